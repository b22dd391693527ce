/**
 * `npm run bench:load [-- --rounds 3 --connections 200 --outage-connections 100 --outage-ms 4000]`
 *
 * The fault-tolerance scenarios of `npm run test:load`, timed: graceful shutdown at production settings (busy
 * keep-alive connections writing notes, the 5 s readiness delay, SIGTERM) and DynamoDB stalling, then refusing
 * connections, under steady reads. The load test judges what happened; this reports how long it took (the
 * slowest answer, when the listener closed, when the process exited, how soon reads succeeded again) and
 * prints Markdown tables for docs/performance.md. It fails (exit 1) if a run breaks the same rules.
 */
import { STOP_TIMEOUT_SECONDS } from '../../api/contract.js';
import { createTables, startLocalDynamoDB } from '../../test/support/local-dynamodb.js';
import {
  agentKey,
  type Outage,
  outageServiceEnv,
  outageSummary,
  outageViolations,
  runOutageScenario,
} from '../../test/support/outage-scenario.js';
import { runService } from '../../test/support/process.js';
import { seedTickets } from '../../test/support/seed.js';
import { runShutdownScenario, shutdownSummary, shutdownViolations } from '../../test/support/shutdown-scenario.js';
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import { commandLine } from '../lib/command-line.js';
import { commit, fmt, machine } from './lib.js';

const args = commandLine(
  `
Usage: npm run bench:load [-- options]

The fault-tolerance scenarios of npm run test:load, timed: graceful shutdown under load at production
settings, and DynamoDB stalling then refusing connections under steady reads. Prints Markdown tables for
docs/performance.md; exits 1 if a run breaks the rules the load test checks.

Options:
  --rounds <n>                 shutdown rounds (default 3)
  --connections <n>            connections writing notes during the shutdown (default 200)
  --shutdown-delay-ms <ms>     readiness delay on SIGTERM (default 5000, production's)
  --outage-connections <n>     connections reading tickets during the outages (default 100)
  --outage-ms <ms>             load before the outage, and the outage's length (default 4000)
  --help                       show this help
`,
  {
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '200' },
    'shutdown-delay-ms': { type: 'string', default: '5000' },
    'outage-connections': { type: 'string', default: '100' },
    'outage-ms': { type: 'string', default: '4000' },
  },
);
const rounds = Number(args.rounds);
const connections = Number(args.connections);
const shutdownDelayMs = Number(args['shutdown-delay-ms']);
const outageConnections = Number(args['outage-connections']);
const outageMs = Number(args['outage-ms']);
const ATTEMPT_MS = 300;
let failed = false;

console.log(`Machine: ${machine()}`);
console.log(`Commit ${commit()}, ${new Date().toISOString()}\n`);

console.log(
  `### Graceful shutdown: ${connections} connections, ${fmt(shutdownDelayMs)} ms readiness delay, stop timeout ${STOP_TIMEOUT_SECONDS} s\n`,
);
console.log(
  '| round | requests | 201 | 201 during the delay | 503 (deadline) | failed unread | listener closed after SIGTERM | exit 0 after SIGTERM |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (let round = 1; round <= rounds; round++) {
  const report = await runShutdownScenario({ connections, warmupMs: 10_000, shutdownDelayMs, dynamoLatencyMs: 20 });
  const s = shutdownSummary(report);
  const problems = shutdownViolations(report, { shutdownDelayMs, stopTimeoutMs: STOP_TIMEOUT_SECONDS * 1000 });
  if (problems.length) {
    failed = true;
    console.error(`round ${round}: ${problems.slice(0, 10).join('; ')}`);
  }
  console.log(
    `| ${round} | ${fmt(s.requests)} | ${fmt(s.ok)} | ${fmt(s.okAfterShutdownBegan)} | ${s.deadlineMissed} | ${fmt(s.failedUnread)} (${s.failures.join(', ')}) | ${fmt(s.listenerClosedAfterMs)} ms | ${fmt(s.exitAfterMs)} ms |`,
  );
}

console.log(
  `\n### DynamoDB outage: ${outageConnections} connections reading tickets, ${fmt(outageMs)} ms before and during the outage, DYNAMODB_TIMEOUT_MS=${ATTEMPT_MS}\n`,
);
console.log(
  '| outage | requests | 200 | 503 | broken connections | slowest answer | slowest during the outage | first read answered 200 after the return |',
);
console.log('|---|---|---|---|---|---|---|---|');
const engine = await startLocalDynamoDB();
const proxy = await TcpProxy.start(engine.endpoint);
try {
  const tables = await createTables(engine.endpoint);
  const ids = await seedTickets(engine.endpoint, tables.names.tickets as string, { to: 1000 });
  const service = await runService(outageServiceEnv(proxy, ATTEMPT_MS, tables.env)).ready;
  try {
    const apiKey = await agentKey(service);
    for (const outage of ['stall', 'refuse'] as Outage[]) {
      const report = await runOutageScenario({
        service,
        proxy,
        apiKey,
        ticketIds: ids,
        outage,
        connections: outageConnections,
        phaseMs: outageMs,
        recoveryOk: 2 * outageConnections,
        recoveryTimeoutMs: 120_000,
      });
      const s = outageSummary(report);
      const problems = outageViolations(report);
      if (problems.length) {
        failed = true;
        console.error(`${outage}: ${problems.join('; ')}`);
      }
      console.log(
        `| ${outage === 'stall' ? 'stalls (accepts, never answers)' : 'refuses connections'} | ${fmt(s.requests)} | ${fmt(s.ok)} | ${fmt(s.unavailable)} | ${s.broken} | ${fmt(s.slowestMs)} ms | ${fmt(s.slowestDuringOutageMs)} ms | ${s.recoveredAfterMs === null ? 'never' : `${fmt(s.recoveredAfterMs)} ms`} |`,
      );
    }
  } finally {
    service.child.kill('SIGTERM');
    await service.exited;
  }
} finally {
  await proxy.close();
  await engine.close();
}
process.exit(failed ? 1 : 0);
