/**
 * The real service process with 50 open event streams: SIGTERM ends every stream (their clients notice and
 * would reconnect elsewhere) and the process exits 0, without the streams holding the shutdown.
 */
import { expect } from 'chai';
import { createDynamoClients } from '../../../api/db/client.js';
import { ensureTables } from '../../../api/db/schema.js';
import { tableEnv } from '../../../api/db/tables.js';
import { sharedEngine, uniqueTableNames } from '../../support/engine.js';
import { ADMIN_KEY, SIGNING_KEY } from '../../support/harness.js';
import { runService } from '../../support/process.js';
import { type Listener, listen } from '../../support/sse.js';

describe('event streams at shutdown', () => {
  it('ends all 50 open streams on SIGTERM and exits 0', async () => {
    const engine = await sharedEngine();
    const tables = uniqueTableNames();
    const setup = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 5000 });
    await ensureTables(setup.client, tables);
    setup.client.destroy();
    const service = await runService({
      DYNAMODB_ENDPOINT: engine.endpoint,
      ...tableEnv(tables),
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      TOKEN_SIGNING_KEY: SIGNING_KEY,
      SHUTDOWN_DELAY_MS: '300',
    }).ready;
    const streams: Listener[] = [];
    try {
      for (let n = 0; n < 50; n++) streams.push(listen(service.url, '/v1/events/stream', ADMIN_KEY));
      await Promise.all(streams.map((s) => s.opened()));
      const ended = streams.map(
        (s) => new Promise<void>((resolve) => s.source.addEventListener('error', () => resolve(), { once: true })),
      );
      service.child.kill('SIGTERM');
      expect(await service.exited).to.equal(0);
      await Promise.all(ended);
      expect(service.stdout()).to.include('"message":"stopped"');
    } finally {
      for (const s of streams) s.close();
      service.child.kill('SIGKILL');
    }
  });
});
