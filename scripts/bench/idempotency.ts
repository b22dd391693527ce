/**
 * `npm run bench:idempotency [-- --duration 5 --connections 10 --rounds 3 --compiled]`
 *
 * What an `Idempotency-Key` costs on the busiest creation route, public ticket creation, through the real
 * service (a child process) on DynamoDB Local (another process). Each round, in turn:
 * - opening a ticket without a key;
 * - opening a ticket with a fresh key per request (reservation before, kept response after);
 * - a replay: the same key and body again and again (one refused write and one read, no ticket written).
 * It then reads the kept records back and prints their size and the write capacity they cost on DynamoDB
 * (1 WCU per started KB written; a refused conditional write is billed too).
 *
 * DynamoDB Local is one JVM on loopback: these figures compare the service with itself; on AWS each extra
 * call adds a network round trip (a few milliseconds) to a keyed request.
 */
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from '../../api/db/client.js';
import { IDEMPOTENCY_KEY_PREFIX } from '../../api/db/tables.js';
import { createTables, freePort, startLocalDynamoDB } from '../../test/support/local-dynamodb.js';
import { commandLine } from '../lib/command-line.js';
import { commit, type Figures, fmt, load, machine, median, startServer } from './lib.js';

const args = commandLine(
  `
Usage: npm run bench:idempotency [-- options]

Measures public ticket creation without a key, with a fresh Idempotency-Key per request, and as a replay,
through the service on DynamoDB Local; then the size and write capacity of a kept record.

Options:
  --duration <s>      seconds per measured run (default 5)
  --connections <n>   concurrent connections (default 10)
  --rounds <n>        rounds of the three runs, in turn (default 3); the median is reported
  --compiled          run dist/api/server.js (npm run build first) instead of the TypeScript sources
  --help              this text
`,
  {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    compiled: { type: 'boolean', default: false },
  },
);
const duration = Number(args.duration);
const connections = Number(args.connections);
const rounds = Number(args.rounds);

const BODY = JSON.stringify({
  message: 'Ma connexion fibre coupe tous les soirs vers 21 h, pouvez-vous regarder ?',
  customer_name: 'Bench',
  channel: 'chat',
});

console.log(`Machine: ${machine()}`);
console.log(`Commit ${commit()}, ${new Date().toISOString()}; ${duration} s per run, ${connections} connections\n`);

const engine = await startLocalDynamoDB();
const tables = await createTables(engine.endpoint);
const server = await startServer(
  args.compiled ? ['dist/api/server.js'] : ['--import', 'tsx', 'api/server.ts'],
  {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DYNAMODB_ENDPOINT: engine.endpoint,
    TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
    // One client opens every ticket here; the limits are for the public, not for the benchmark.
    RATE_LIMIT_TICKETS_PER_HOUR: '1000000',
    ...tables.env,
  },
  { port: await freePort() },
);
const url = `${server.url}/v1/public/tickets`;
const watch = [server.child.pid as number, engine.jvmPid];
const json = { 'content-type': 'application/json' };

const runs = {
  none: (d = duration) => load({ url, method: 'POST', headers: json, body: BODY, connections, duration: d, watch }),
  fresh: (d = duration) =>
    load({
      url,
      connections,
      duration: d,
      watch,
      requests: [
        {
          method: 'POST',
          body: BODY,
          setupRequest: (req) => ({ ...req, headers: { ...json, 'idempotency-key': randomUUID() } }),
        },
      ],
    }),
  replay: async (d = duration) => {
    const key = randomUUID();
    const first = await fetch(url, { method: 'POST', headers: { ...json, 'idempotency-key': key }, body: BODY });
    if (first.status !== 201) throw new Error(`first request answered ${first.status}`);
    return load({
      url,
      method: 'POST',
      headers: { ...json, 'idempotency-key': key },
      body: BODY,
      connections,
      duration: d,
      watch,
    });
  },
};

try {
  // Warm-up of every path (JIT, connection pools).
  for (const run of Object.values(runs)) await run(2);
  const figures: Record<keyof typeof runs, Figures[]> = { none: [], fresh: [], replay: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const name of Object.keys(runs) as Array<keyof typeof runs>) figures[name].push(await runs[name]());
    console.log(
      `round ${round}: mean ms ${fmt(figures.none.at(-1)?.mean ?? 0, 2)} (no key) / ` +
        `${fmt(figures.fresh.at(-1)?.mean ?? 0, 2)} (fresh key) / ${fmt(figures.replay.at(-1)?.mean ?? 0, 2)} (replay)`,
    );
  }
  const typical = (all: Figures[]) => {
    const m = median(all.map((r) => r.mean));
    return all.reduce((best, r) => (Math.abs(r.mean - m) < Math.abs(best.mean - m) ? r : best));
  };
  console.log(
    `\n| open a ticket (public), ${connections} connections | req/s | mean ms | p50 ms | p99 ms | CPU service / DynamoDB Local | non-2xx + errors |`,
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, what] of [
    ['none', 'without a key'],
    ['fresh', 'a fresh key per request'],
    ['replay', 'replay of one key'],
  ] as const) {
    const f = typical(figures[name]);
    const [svc, db] = f.cpuPercent ?? [];
    console.log(
      `| ${what} | ${fmt(f.rps)} | ${fmt(f.mean, 2)} | ${fmt(f.p50)} | ${fmt(f.p99)} | ${svc}% / ${db}% | ${f.non2xx + f.errors} |`,
    );
  }

  // Size of a kept record, as DynamoDB bills it: attribute names and values (UTF-8 or binary bytes).
  const { doc, client } = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 10_000 });
  const { Items = [] } = await doc.send(new ScanCommand({ TableName: tables.names.ratelimits, Limit: 200 }));
  client.destroy();
  const size = (value: unknown): number => {
    if (value instanceof Uint8Array) return value.length;
    if (typeof value === 'string') return Buffer.byteLength(value);
    if (typeof value === 'number') return String(value).length;
    if (value && typeof value === 'object')
      return Object.entries(value).reduce((n, [k, v]) => n + Buffer.byteLength(k) + size(v) + 1, 3);
    return 1;
  };
  const kept = Items.filter((i) => String(i.limit_key).startsWith(IDEMPOTENCY_KEY_PREFIX) && i.record_state === 'done');
  // A reservation has this shape (MACs are 43 base64url characters, the lease token 22).
  const itemSize = (item: Record<string, unknown>) =>
    Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + size(v), 0);
  const reservation = itemSize({
    limit_key: `${IDEMPOTENCY_KEY_PREFIX}${'x'.repeat(43)}`,
    record_state: 'running',
    request_mac: 'x'.repeat(43),
    lease_token: 'x'.repeat(22),
    lease_until: Date.now(),
    expires_at: Math.ceil(Date.now() / 1000),
  });
  const keptSize = median(kept.map(itemSize));
  console.log(
    `\nkept record: ${fmt(keptSize)} bytes (median of ${kept.length}), of which the sealed response body ` +
      `${fmt(median(kept.map((i) => (i.response_body as Uint8Array).length)))} bytes; a reservation ${fmt(reservation)} bytes`,
  );
  console.log(
    `write capacity per keyed creation: ${1 + Math.ceil(keptSize / 1024)} WCU (reserve 1, keep ${Math.ceil(keptSize / 1024)}); ` +
      `per replay: 1 WCU (refused conditional write) + 1 RCU (consistent read up to 4 KB)`,
  );
} finally {
  await server.stop();
  await engine.close();
}
