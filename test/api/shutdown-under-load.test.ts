import { expect } from 'chai';
import { STOP_TIMEOUT_SECONDS } from '../../api/contract.js';
import { runShutdownScenario, shutdownSummary, shutdownViolations } from '../support/shutdown-scenario.js';

describe('graceful shutdown under load (real process)', function () {
  this.timeout(120_000);

  it('on SIGTERM under 100 busy keep-alive connections: readiness 503 first, every request it read answered 201, nothing read is lost, exit 0 in time', async () => {
    const shutdownDelayMs = 2000;
    const report = await runShutdownScenario({
      connections: 100,
      warmupMs: 1000,
      shutdownDelayMs,
      dynamoLatencyMs: 50,
    });
    const summary = shutdownSummary(report);
    const problems = shutdownViolations(report, { shutdownDelayMs, stopTimeoutMs: STOP_TIMEOUT_SECONDS * 1000 });
    expect(problems.slice(0, 20), JSON.stringify(summary)).to.deep.equal([]);
    // The run proves something only if requests were being handled when the listener closed.
    expect(summary.answeredAfterClose, JSON.stringify(summary)).to.be.above(0);
  });
});
