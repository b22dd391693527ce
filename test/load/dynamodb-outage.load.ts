/**
 * A DynamoDB outage in the middle of steady load: 100 connections reading tickets through the real process,
 * DynamoDB behind a proxy that stalls (accepts, never answers) and then refuses connections, each for a few
 * seconds, and comes back. Every request is answered (200 or a 503 with Retry-After, no broken connection),
 * every answer during the outage is a 503, and once DynamoDB is back the same process serves 200s again.
 * Behaviour only: how fast is `npm run bench:load`'s business. `npm run test:load`.
 */
import { expect } from 'chai';
import { sharedEngine } from '../support/engine.js';
import { createTables, type LocalEngine } from '../support/local-dynamodb.js';
import {
  agentKey,
  type Outage,
  outageServiceEnv,
  outageSummary,
  outageViolations,
  runOutageScenario,
} from '../support/outage-scenario.js';
import { runService, type ServiceProcess } from '../support/process.js';
import { seedTickets } from '../support/seed.js';
import { TcpProxy } from '../support/tcp-proxy.js';

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
    service = await runService(outageServiceEnv(proxy, 300, tables.env)).ready;
    apiKey = await agentKey(service);
  });

  after(async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    await proxy?.close();
  });

  for (const outage of ['stall', 'refuse'] as Outage[]) {
    it(`DynamoDB ${outage === 'stall' ? 'stalls' : 'refuses connections'} under 100 connections: every request answered, 503s with Retry-After during the outage, recovery in the same process`, async () => {
      const report = await runOutageScenario({
        service,
        proxy,
        apiKey,
        ticketIds: ids,
        outage,
        connections: 100,
        phaseMs: 4000,
        recoveryOk: 200,
        recoveryTimeoutMs: 120_000,
      });
      const summary = outageSummary(report);
      console.log(`      ${JSON.stringify(summary)}`);
      expect(outageViolations(report), JSON.stringify(summary)).to.deep.equal([]);
    });
  }
});
