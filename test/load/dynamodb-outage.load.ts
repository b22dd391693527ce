/**
 * A DynamoDB outage in the middle of steady load: 100 connections reading tickets through the real process,
 * DynamoDB behind a proxy that stalls (accepts, never answers) and then refuses connections, each for a few
 * seconds, and comes back. While it is out, every answer is a 503 in the error shape within the request
 * deadline and no connection breaks; once it is back, the same process serves 200s again. `npm run test:load`.
 */
import { expect } from 'chai';
import { sharedEngine } from '../support/engine.js';
import { ADMIN_KEY, SIGNING_KEY } from '../support/harness.js';
import { type Attempt, startLoad } from '../support/load.js';
import { createTables, type LocalEngine } from '../support/local-dynamodb.js';
import { runService, type ServiceProcess } from '../support/process.js';
import { seedTickets } from '../support/seed.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const ATTEMPT_MS = 300;
/** One call's budget (3 attempts, backoff) and room for a loaded two-core machine; no request comes near it unless it hangs. */
const DEADLINE_MS = 3 * ATTEMPT_MS + 600 + 3000;
const PHASE_MS = 4000;

describe('DynamoDB outage under load (load)', () => {
  let engine: LocalEngine;
  let proxy: TcpProxy;
  let service: ServiceProcess;
  let ids: string[];
  let apiKey: string;

  before(async () => {
    engine = await sharedEngine();
    const tables = await createTables(engine.endpoint);
    ids = await seedTickets(engine.endpoint, tables.names.tickets as string, { to: 1000 });
    proxy = await TcpProxy.start(engine.endpoint);
    service = await runService({
      DYNAMODB_ENDPOINT: proxy.url,
      DYNAMODB_TIMEOUT_MS: String(ATTEMPT_MS),
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      TOKEN_SIGNING_KEY: SIGNING_KEY,
      ...tables.env,
    }).ready;
    const key = await fetch(`${service.url}/v1/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ name: 'load', role: 'agent' }),
    });
    apiKey = ((await key.json()) as { api_key: string }).api_key;
  });

  after(async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    await proxy?.close();
  });

  for (const outage of ['stall', 'refuse'] as const) {
    it(`DynamoDB ${outage === 'stall' ? 'stalls' : 'refuses connections'} under 100 connections: 503s in time, no broken connection, recovery`, async () => {
      const pid = service.child.pid;
      const load = startLoad({
        port: service.port,
        connections: 100,
        next: () => ({
          method: 'GET',
          path: `/v1/tickets/${ids[Math.floor(Math.random() * ids.length)]}`,
          headers: { authorization: `Bearer ${apiKey}` },
        }),
      });
      const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await wait(PHASE_MS);
      const outageFrom = performance.timeOrigin + performance.now();
      if (outage === 'stall') proxy.stall();
      else await proxy.refuse();
      await wait(PHASE_MS);
      const outageTo = performance.timeOrigin + performance.now();
      await proxy.forward();
      await wait(PHASE_MS);
      const attempts = await load.stop();

      const during = attempts.filter((a) => a.sentAt > outageFrom && a.doneAt < outageTo);
      const after = attempts.filter((a) => a.sentAt > outageTo + 1000);
      const before = attempts.filter((a) => a.doneAt < outageFrom);
      const summary = {
        requests: attempts.length,
        before: before.length,
        during: during.length,
        after: after.length,
        slowest_ms: Math.round(Math.max(...attempts.map((a) => a.doneAt - a.sentAt))),
      };
      console.log(`      ${JSON.stringify(summary)}`);
      const statuses = (list: Attempt[]) => [...new Set(list.map((a) => a.status ?? a.error))];

      expect(
        attempts.filter((a) => a.error).map((a) => a.error),
        'broken connections',
      ).to.deep.equal([]);
      expect(statuses(before)).to.deep.equal([200]);
      expect(during.length).to.be.above(0);
      expect(statuses(during), 'during the outage').to.deep.equal([503]);
      expect(statuses(after), 'after it').to.deep.equal([200]);
      expect(statuses(attempts).every((s) => s === 200 || s === 503)).to.equal(true);
      expect(summary.slowest_ms, 'slowest answer').to.be.below(DEADLINE_MS);
      expect(service.child.pid).to.equal(pid);
      expect(service.child.exitCode).to.equal(null);
    });
  }
});
