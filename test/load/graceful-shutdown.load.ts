/**
 * The graceful-shutdown scenario of the test suite at production settings and for longer: 200 busy keep-alive
 * connections, the production readiness delay (5 s), several rounds. Behaviour only (see
 * `shutdownViolations`); the timings are reported by `npm run bench:load`. `npm run test:load`.
 */
import { expect } from 'chai';
import { STOP_TIMEOUT_SECONDS } from '../../api/contract.js';
import { runShutdownScenario, shutdownSummary, shutdownViolations } from '../support/shutdown-scenario.js';

const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 3);

describe('graceful shutdown at production settings (load)', () => {
  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: 200 connections, 5 s readiness delay: every request read is answered, exit 0 within the stop timeout`, async () => {
      const shutdownDelayMs = 5000;
      const report = await runShutdownScenario({
        connections: 200,
        warmupMs: 10_000,
        shutdownDelayMs,
        dynamoLatencyMs: 20,
      });
      const summary = shutdownSummary(report);
      console.log(`      ${JSON.stringify(summary)}`);
      const problems = shutdownViolations(report, { shutdownDelayMs, stopTimeoutMs: STOP_TIMEOUT_SECONDS * 1000 });
      expect(problems.slice(0, 20), JSON.stringify(summary)).to.deep.equal([]);
      // The run proves something only if requests were being handled when the listener closed, and the
      // delay was spent serving (answers marked Connection: close while readiness said 503).
      expect(summary.answeredAfterClose, JSON.stringify(summary)).to.be.above(0);
      expect(summary.okAfterShutdownBegan, JSON.stringify(summary)).to.be.above(0);
    });
  }
});
