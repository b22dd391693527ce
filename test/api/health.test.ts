import { expect } from 'chai';
import { type Harness, startHarness } from '../support/harness.js';

describe('health', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('answers liveness without touching the tables', async () => {
    const res = await h.http().get('/health/live').expect(200);
    expect(res.body).to.deep.equal({ status: 'alive' });
  });

  it('is ready when the tables answer', async () => {
    await h.http().get('/health/ready').expect(200, { status: 'ready' });
  });

  it('reports each dependency in the summary', async () => {
    const res = await h.http().get('/health').expect(200);
    expect(res.body.status).to.equal('ok');
    expect(res.body.checks.dynamodb.status).to.equal('ok');
    expect(res.body.checks.assistant.status).to.equal('disabled');
  });

  it('turns unready with Retry-After once shutdown starts, while liveness and the summary stay 200', async () => {
    h.runtime.lifecycle.shuttingDown = true;
    try {
      const res = await h.http().get('/health/ready').expect(503);
      expect(res.headers['retry-after']).to.equal('5');
      expect(res.body.error.code).to.equal('not_ready');
      await h.http().get('/health/live').expect(200);
      const summary = await h.http().get('/health').expect(200);
      expect(summary.body.status).to.equal('shutting_down');
    } finally {
      h.runtime.lifecycle.shuttingDown = false;
    }
  });

  it('answers 503 when a table stops answering, and ready again once it is back', async () => {
    const { DeleteTableCommand } = await import('@aws-sdk/client-dynamodb');
    const { ensureTables } = await import('../../api/db/schema.js');
    await h.runtime.dynamo.client.send(new DeleteTableCommand({ TableName: h.tables.principals }));
    const res = await h.http().get('/health/ready').expect(503);
    expect(res.body.error.details[0].path).to.equal('checks.dynamodb');
    expect((await h.http().get('/health').expect(200)).body.checks.dynamodb.status).to.equal('unavailable');
    await ensureTables(h.runtime.dynamo.client, h.tables);
    await h.http().get('/health/ready').expect(200);
  });

  it('refuses to start on an endpoint whose tables are missing, naming the command that creates them', async () => {
    const other = await startHarness({ TICKETS_TABLE: 'no-such-table' }).catch((e: Error) => e);
    expect(other).to.be.instanceOf(Error);
    expect((other as Error).message).to.match(/npm run db:create-tables/);
  });
});
