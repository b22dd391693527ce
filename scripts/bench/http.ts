/**
 * `npm run bench:http [-- --rounds 5 --duration 10 --connections 50]`
 *
 * Cost of the service's HTTP stack: requests per second of `GET /health/live` through the real service (the
 * real process, its middleware, its access log written to stdout, here /dev/null) against a bare Express 5 app
 * answering the same JSON. Both run as child processes under the same runtime (tsx), loaded in alternation by
 * autocannon from this process; the ratio is taken round by round, so a machine that gets busier or quieter
 * affects both sides alike. `GET /v1/auth/me` with the bootstrap key is measured too: the whole middleware
 * chain (helmet, CORS, JSON body parser, the routers, authentication) without a DynamoDB call.
 * Prints a Markdown table for docs/performance.md. Target: the service at 0.85 of bare Express or better.
 */

import { createTables, freePort, startLocalDynamoDB } from '../../test/support/local-dynamodb.js';
import { commandLine } from '../lib/command-line.js';
import { type ChildServer, commit, type Figures, fmt, load, machine, median, startServer } from './lib.js';

const args = commandLine(
  `
Usage: npm run bench:http [-- options]

Cost of the service's HTTP stack: GET /health/live through the real service against a bare Express 5 app
answering the same JSON, in alternation, plus GET /v1/auth/me (the whole middleware chain). Prints a
Markdown table for docs/performance.md.

Options:
  --rounds <n>         rounds of each server (default 5)
  --duration <s>       seconds per autocannon run (default 10)
  --connections <n>    connections per run (default 50)
  --compiled           run the compiled service (dist/, after npm run build) instead of tsx
  --help               show this help
`,
  {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    compiled: { type: 'boolean', default: false },
  },
);
const rounds = Number(args.rounds);
const duration = Number(args.duration);
const connections = Number(args.connections);
const ADMIN_KEY = 'bench-bootstrap-admin-key-0123456789abcdef';

console.log(`Machine: ${machine()}`);
console.log(
  `Commit ${commit()}, ${new Date().toISOString()}; ${rounds} rounds of ${duration} s, ${connections} connections\n`,
);

const engine = await startLocalDynamoDB();
const servers: ChildServer[] = [];
try {
  const tables = await createTables(engine.endpoint);
  const service = await startServer(
    args.compiled ? ['dist/api/server.js'] : ['--import', 'tsx', 'api/server.ts'],
    {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DYNAMODB_ENDPOINT: engine.endpoint,
      TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      ...tables.env,
    },
    { port: await freePort() },
  );
  servers.push(service);
  const bare = await startServer(
    ['--import', 'tsx', 'scripts/bench/bare-express.ts'],
    {},
    {
      port: await freePort(),
      readyPath: '/health/live',
    },
  );
  servers.push(bare);

  const targets = {
    bare: { url: `${bare.url}/health/live`, pid: bare.child.pid },
    live: { url: `${service.url}/health/live`, pid: service.child.pid },
    me: { url: `${service.url}/v1/auth/me`, headers: { authorization: `Bearer ${ADMIN_KEY}` }, pid: service.child.pid },
  };
  // Warm-up: JIT, connection pools, lazily loaded modules.
  for (const target of Object.values(targets)) await load({ ...target, pid: undefined, connections, duration: 3 });

  const runs: Record<keyof typeof targets, Figures[]> = { bare: [], live: [], me: [] };
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? (['bare', 'live', 'me'] as const) : (['live', 'bare', 'me'] as const);
    const figures: Partial<Record<keyof typeof targets, Figures>> = {};
    for (const name of order) {
      figures[name] = await load({ ...targets[name], connections, duration });
      runs[name].push(figures[name]);
    }
    const [b, l, m] = [figures.bare, figures.live, figures.me] as Figures[] as [Figures, Figures, Figures];
    ratios.push(l.rps / b.rps);
    cpuRatios.push((b.cpuUs ?? 0) / (l.cpuUs ?? 1));
    console.log(
      `round ${round}: bare ${fmt(b.rps)} req/s ${fmt(b.cpuUs ?? 0)} µs CPU/req, service ${fmt(l.rps)} req/s ` +
        `${fmt(l.cpuUs ?? 0)} µs (${(l.rps / b.rps).toFixed(2)} / ${((b.cpuUs ?? 0) / (l.cpuUs ?? 1)).toFixed(2)}), ` +
        `/v1/auth/me ${fmt(m.rps)} req/s ${fmt(m.cpuUs ?? 0)} µs`,
    );
  }

  const row = (name: string, f: Figures[], ratio: number, cpuRatio: number) => {
    const bad = f.reduce((n, x) => n + x.non2xx + x.errors, 0);
    const med = (pick: (x: Figures) => number) => median(f.map(pick));
    return (
      `| ${name} | ${fmt(med((x) => x.rps))} | ${fmt(med((x) => x.p50))} | ${fmt(med((x) => x.p99))} | ` +
      `${ratio.toFixed(2)} | ${fmt(med((x) => x.cpuUs ?? 0))} | ${cpuRatio.toFixed(2)} | ${bad} |`
    );
  };
  const meRatios = runs.me.map((m, i) => m.rps / (runs.bare[i] as Figures).rps);
  const meCpu = runs.me.map((m, i) => ((runs.bare[i] as Figures).cpuUs ?? 0) / (m.cpuUs ?? 1));
  console.log(
    '\n| server, route | req/s | p50 ms | p99 ms | req/s vs bare | server CPU µs/req | capacity vs bare | non-2xx + errors |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(row('bare Express 5, `GET /health/live`', runs.bare, 1, 1));
  console.log(row('service, `GET /health/live`', runs.live, median(ratios), median(cpuRatios)));
  console.log(row('service, `GET /v1/auth/me` (whole chain)', runs.me, median(meRatios), median(meCpu)));
  console.log('\n(medians of the rounds; "capacity vs bare" = bare CPU per request / service CPU per request)');
} finally {
  for (const s of servers) await s.stop();
  await engine.close();
}
