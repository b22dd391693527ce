import { ThrottlingException } from '@aws-sdk/client-dynamodb';
import { expect } from 'chai';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { type Harness, startHarness } from '../support/harness.js';

const INTERVAL_MS = 5000;

describe('health checks: cost and resilience', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ HEALTH_CHECK_INTERVAL_MS: String(INTERVAL_MS) });
  });
  after(() => h.close());

  it('answers 200 health and readiness requests with a handful of DescribeTable calls', async () => {
    const spy = spyOnCommands(h.runtime.dynamo.client);
    const started = Date.now();
    for (let i = 0; i < 200; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j) => h.http().get((i + j) % 2 ? '/health' : '/health/ready'));
      for (const res of await Promise.all(batch)) expect(res.status).to.equal(200);
    }
    const elapsed = Date.now() - started;
    const calls = spy.sent.filter((c) => c.name === 'DescribeTableCommand').length;
    // One check (one call per table) per interval begun; without the cache, 200 times as many.
    const tables = Object.keys(h.tables).length;
    const checksAllowed = Math.floor(elapsed / INTERVAL_MS) + 1;
    expect(calls, `${calls} DescribeTable calls in ${elapsed} ms`).to.be.at.most(tables * checksAllowed);
    expect(calls).to.be.greaterThan(0);
  });

  it('stays ready when the control plane throttles DescribeTable, and reports it as degraded', async () => {
    const throttled = await startHarness({}, h.tables);
    try {
      // AWS's answer when an account makes too many control-plane calls, injected at the SDK boundary.
      throttled.runtime.dynamo.client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'DescribeTableCommand') {
            throw new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
          }
          return next(args);
        },
        { step: 'initialize', name: 'throttle-describe-table' },
      );
      await throttled.http().get('/health/ready').expect(200);
      const summary = await throttled.http().get('/health').expect(200);
      expect(summary.body.status).to.equal('degraded');
      expect(summary.body.checks.dynamodb).to.deep.equal({ status: 'degraded', detail: 'ThrottlingException' });
    } finally {
      await throttled.close();
    }
  });

  it('sends the security headers on the health routes too', async () => {
    for (const path of ['/health', '/health/live', '/health/ready']) {
      const res = await h.http().get(path).expect(200);
      expect(res.headers, path).to.include({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN' });
      expect(res.headers['content-security-policy'], path).to.be.a('string');
      expect(res.headers['strict-transport-security'], path).to.be.a('string');
    }
  });
});
