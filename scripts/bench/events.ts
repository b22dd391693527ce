/**
 * `npm run bench:events [-- --streams 200 --rate 20 --seconds 20 --idle-seconds 10 --endpoint <url>]`
 *
 * Event-to-stream and event-to-webhook latency, and what the event log costs a task in DynamoDB reads. The
 * service runs in this process on fresh tables (the local engine in memory without `--endpoint`), served on a
 * loopback port.
 * 1. Idle: Queries of the events table per second with no stream open, then with one stream open, then with
 *    one webhook subscription and no stream (with the webhooks table's requests).
 * 2. Load: `--streams` agents' streams open (the `eventsource` client) and one webhook subscription to a
 *    loopback receiver, `--rate` changes a second (internal notes: one event each) for `--seconds`; the
 *    latency of each delivery is its arrival time minus the event's `created_at` (taken before the write's
 *    transaction, so it includes the write), p50/p99 over all deliveries to all streams, and over the webhook's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { createApp } from '../../api/app.js';
import { loadConfig } from '../../api/config.js';
import { createDynamoClients } from '../../api/db/client.js';
import { startLocalEngine } from '../../api/db/local-engine.js';
import { ensureTables } from '../../api/db/schema.js';
import { prefixedTableNames, tableEnv } from '../../api/db/tables.js';
import { createLogger } from '../../api/logger.js';
import { buildRuntime } from '../../api/runtime.js';
import { commandLine } from '../lib/command-line.js';

const args = commandLine(
  `
Usage: npm run bench:events [-- options]

Event-to-stream and event-to-webhook latency (p50/p99) with many open Server-Sent Events streams and one
webhook subscription while tickets change at a steady rate, and the events-table reads a task costs when idle;
on DynamoDB Local (started in memory unless --endpoint is given).

Options:
  --streams <n>         open streams (default 200)
  --rate <n>            ticket changes per second (default 20)
  --seconds <n>         seconds of load (default 20)
  --idle-seconds <n>    seconds of idle measurement (default 10)
  --endpoint <url>      a DynamoDB endpoint to use instead of starting DynamoDB Local
  --help                this text
`,
  {
    endpoint: { type: 'string' },
    streams: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '20' },
    'idle-seconds': { type: 'string', default: '10' },
  },
);
const streamCount = Number(args.streams);
const rate = Number(args.rate);
const seconds = Number(args.seconds);
const idleSeconds = Number(args['idle-seconds']);
const ADMIN_KEY = 'bench-bootstrap-admin-key-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const engine = args.endpoint ? undefined : await startLocalEngine();
const endpoint = args.endpoint ?? (engine?.endpoint as string);
const tag = `bench-${Date.now().toString(36)}`;
const tables = prefixedTableNames(tag);
const setup = createDynamoClients({ endpoint, timeoutMs: 10_000 });
await ensureTables(setup.client, tables);
setup.client.destroy();

const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'error',
  DYNAMODB_ENDPOINT: endpoint,
  ...tableEnv(tables),
  BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
  TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
  RATE_LIMIT_TICKETS_PER_HOUR: '1000000',
  RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000',
});
const runtime = await buildRuntime(config, createLogger({ level: 'error', silent: true }));
let eventQueries = 0;
let webhookRequests = 0;
runtime.dynamo.client.middlewareStack.add(
  (next, context) => async (a) => {
    const input = a.input as { TableName?: string };
    if (context.commandName === 'QueryCommand' && input.TableName === tables.events) eventQueries++;
    if (input.TableName === tables.webhooks) webhookRequests++;
    return next(a);
  },
  { step: 'initialize', name: 'bench-count' },
);
const server = createServer(createApp(runtime.deps));
server.maxConnections = streamCount + 100;
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const auth = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

async function queriesPerSecond(ms: number): Promise<number> {
  const start = eventQueries;
  await sleep(ms);
  return ((eventQueries - start) * 1000) / ms;
}

function open(onEvent?: (data: string) => void): Promise<EventSource> {
  const source = new EventSource(`${base}/v1/events/stream`, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as object), ...auth } }),
  });
  if (onEvent) source.onmessage = (m) => onEvent(m.data);
  return new Promise((resolve) => source.addEventListener('open', () => resolve(source), { once: true }));
}

const idleNone = await queriesPerSecond(idleSeconds * 1000);
const one = await open();
await sleep(500);
const idleOne = await queriesPerSecond(idleSeconds * 1000);
one.close();

// One webhook subscription (internal notes included) to a receiver on loopback that answers 204 at once.
const webhookLatencies: number[] = [];
const webhookIds = new Set<string>();
const receiver: Server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const event = JSON.parse(Buffer.concat(chunks).toString()) as { created_at: string; data: { internal?: boolean } };
    if (event.data.internal === true && !webhookIds.has(String(req.headers['webhook-id']))) {
      webhookIds.add(String(req.headers['webhook-id']));
      webhookLatencies.push(Date.now() - Date.parse(event.created_at));
    }
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const hook = await fetch(`${base}/v1/webhooks`, {
  method: 'POST',
  headers: auth,
  body: JSON.stringify({
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
    events: ['*'],
    include_internal: true,
  }),
});
if (hook.status !== 201) throw new Error(`webhook subscription answered ${hook.status}`);
await sleep(1000);
const webhookIdleStart = webhookRequests;
const idleWebhook = await queriesPerSecond(idleSeconds * 1000);
const idleWebhookRequests = (webhookRequests - webhookIdleStart) / idleSeconds;

// Tickets to write on, made before the streams open.
const tickets: string[] = [];
for (let n = 0; n < 20; n++) {
  const res = await fetch(`${base}/v1/public/tickets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: `Bench ticket ${n}` }),
  });
  tickets.push(((await res.json()) as { ticket: { ticket_id: string } }).ticket.ticket_id);
}

const latencies: number[] = [];
const sources: EventSource[] = [];
for (let n = 0; n < streamCount; n++) {
  sources.push(
    await open((data) => {
      // Only this benchmark writes internal notes.
      const event = JSON.parse(data) as { created_at: string; data: { internal?: boolean } };
      if (event.data.internal === true) latencies.push(Date.now() - Date.parse(event.created_at));
    }),
  );
}
const loadStart = eventQueries;
const started = Date.now();
const total = rate * seconds;
const writes: Promise<void>[] = [];
for (let n = 0; n < total; n++) {
  const due = started + (n * 1000) / rate;
  await sleep(Math.max(0, due - Date.now()));
  writes.push(
    fetch(`${base}/v1/tickets/${tickets[n % tickets.length]}/messages`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ content: `note ${n}`, internal: true }),
    }).then(async (res) => {
      if (res.status !== 201) throw new Error(`write answered ${res.status}`);
      await res.arrayBuffer();
    }),
  );
}
await Promise.all(writes);
const expected = total * streamCount;
const waitUntil = Date.now() + 15_000;
while ((latencies.length < expected || webhookLatencies.length < total) && Date.now() < waitUntil) await sleep(100);
const loadQps = ((eventQueries - loadStart) * 1000) / (Date.now() - started);
for (const s of sources) s.close();

// Where a webhook's latency goes, over its last 100 deliveries: event -> delivery item -> first attempt.
const hookId = ((await hook.json()) as { webhook_id: string }).webhook_id;
const recent = (
  (await (await fetch(`${base}/v1/webhooks/${hookId}/deliveries?limit=100`, { headers: auth })).json()) as {
    deliveries: Array<{ event_id: string; created_at: string; last_attempt_at: string | null }>;
  }
).deliveries;
const toItem = recent.map((d) => Date.parse(d.created_at) - Date.parse(d.event_id.slice(0, 24))).sort((a, b) => a - b);
const itemToAttempt = recent
  .filter((d) => d.last_attempt_at)
  .map((d) => Date.parse(String(d.last_attempt_at)) - Date.parse(d.created_at))
  .sort((a, b) => a - b);

latencies.sort((a, b) => a - b);
webhookLatencies.sort((a, b) => a - b);
const percentile = (list: number[], p: number) =>
  list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] ?? Number.NaN;
const pct = (p: number) => percentile(latencies, p);
console.log(
  JSON.stringify(
    {
      streams: streamCount,
      changes_per_second: rate,
      seconds,
      deliveries: { expected, received: latencies.length },
      event_to_stream_ms: { p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1] },
      webhook_deliveries: { expected: total, received: webhookLatencies.length },
      webhook_last_100_p50_ms: {
        event_to_delivery_item: percentile(toItem, 50),
        delivery_item_to_attempt_answered: percentile(itemToAttempt, 50),
      },
      event_to_webhook_ms: {
        p50: percentile(webhookLatencies, 50),
        p99: percentile(webhookLatencies, 99),
        max: webhookLatencies[webhookLatencies.length - 1],
      },
      event_queries_per_second: {
        idle_no_stream: idleNone,
        idle_one_stream: idleOne,
        idle_one_webhook: idleWebhook,
        under_load: loadQps,
      },
      webhooks_table_requests_per_second_idle_one_webhook: idleWebhookRequests,
      poll_ms: config.events.pollMs,
    },
    null,
    2,
  ),
);
server.closeAllConnections();
server.close();
receiver.closeAllConnections();
receiver.close();
await runtime.close();
await engine?.close();
process.exit(0);
