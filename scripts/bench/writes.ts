/**
 * `npm run bench:writes [-- --endpoint http://127.0.0.1:8000 --rounds 5]`
 *
 * What one ticket creation, one customer message, one agent reply, a later exchange and the agents' changes
 * (priority, tags, close) cost in DynamoDB: the calls the service
 * makes (by operation and table) and the capacity DynamoDB reports for them (every call is sent with
 * `ReturnConsumedCapacity: TOTAL`). The service runs in this process on fresh tables, without a Mistral key
 * (the assistant answers with smart replies or the acknowledgement, which is stored like any reply).
 * Without `--endpoint` the local engine is started in memory. Figures are per request, the same every round
 * (DynamoDB bills by item size, not by time), so they need no quiet machine.
 */
import type { AddressInfo } from 'node:net';
import { createApp } from '../../api/app.js';
import { loadConfig } from '../../api/config.js';
import { createDynamoClients } from '../../api/db/client.js';
import { startLocalEngine } from '../../api/db/local-engine.js';
import { ensureTables } from '../../api/db/schema.js';
import { prefixedTableNames, tableEnv } from '../../api/db/tables.js';
import { EventLog } from '../../api/events/log.js';
import { newEvent } from '../../api/events/model.js';
import { createLogger } from '../../api/logger.js';
import { buildRuntime } from '../../api/runtime.js';
import { TicketRepository } from '../../api/tickets/repository.js';
import { commandLine } from '../lib/command-line.js';

const args = commandLine(
  `
Usage: npm run bench:writes [-- options]

DynamoDB calls and consumed capacity of a ticket creation, a customer message, an agent reply, a later
exchange and the agents' changes (priority, tags, close), through
the service's own wiring on DynamoDB Local (started in memory unless --endpoint is given).

Options:
  --endpoint <url>    a DynamoDB endpoint to use instead of starting DynamoDB Local
  --rounds <n>        requests of each kind (default 5)
  --help              this text
`,
  { endpoint: { type: 'string' }, rounds: { type: 'string', default: '5' } },
);
const rounds = Number(args.rounds);
const ADMIN_KEY = 'bench-bootstrap-admin-key-0123456789abcdef';

const engine = args.endpoint ? undefined : await startLocalEngine();
const endpoint = args.endpoint ?? (engine?.endpoint as string);
const tag = `bench-${Date.now().toString(36)}`;
const tables = prefixedTableNames(tag);
const setup = createDynamoClients({ endpoint, timeoutMs: 10_000 });
await ensureTables(setup.client, tables);
setup.client.destroy();

const config = loadConfig({
  NODE_ENV: 'test',
  DYNAMODB_ENDPOINT: endpoint,
  ...tableEnv(tables),
  BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
  TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
  RATE_LIMIT_TICKETS_PER_HOUR: '1000000',
  RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000',
});
const runtime = await buildRuntime(config, createLogger({ level: 'error', silent: true }));
const repository = new TicketRepository(
  runtime.dynamo.doc,
  tables.tickets as string,
  new EventLog(runtime.dynamo.doc, tables.events as string, 30),
);

interface Call {
  operation: string;
  capacity: Array<{ table: string; read: number; write: number }>;
}
let calls: Call[] = [];
runtime.dynamo.client.middlewareStack.add(
  (next, context) => async (input) => {
    const request = input.input as Record<string, unknown>;
    request.ReturnConsumedCapacity = 'TOTAL';
    const out = await next(input);
    const consumed = (out.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
    const list = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as Array<{
      TableName?: string;
      CapacityUnits?: number;
      ReadCapacityUnits?: number;
      WriteCapacityUnits?: number;
    }>;
    const operation = String(context.commandName).replace(/Command$/, '');
    // Reads and writes are told apart by the operation when the engine reports only CapacityUnits.
    const isWrite = /Put|Update|Delete|Write/.test(operation);
    calls.push({
      operation,
      capacity: list.map((c) => ({
        table: String(c.TableName).replace(`${tag}-`, ''),
        read: c.ReadCapacityUnits ?? (isWrite ? 0 : (c.CapacityUnits ?? 0)),
        write: c.WriteCapacityUnits ?? (isWrite ? (c.CapacityUnits ?? 0) : 0),
      })),
    });
    return out;
  },
  { step: 'initialize', name: 'bench-capacity' },
);

const server = createApp(runtime.deps).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
async function call(method: string, path: string, body: unknown, token: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { ticket: { ticket_id: string }; access_token: string; api_key: string };
}
const key = await call('POST', '/v1/api-keys', { name: 'bench', role: 'agent' }, ADMIN_KEY);
const agentKey = key.api_key as string;

type Figure = { calls: Call[] };
const results: Record<string, Figure[]> = {
  'ticket creation': [],
  'customer message': [],
  'agent reply': [],
  "analysis result (the worker's write)": [],
  'customer message, then a later agent reply': [],
  'priority change (PATCH)': [],
  'tags change (PATCH, 2 tags)': [],
  'close (PATCH)': [],
};
for (let round = 0; round < rounds; round++) {
  calls = [];
  const created = await call(
    'POST',
    '/v1/public/tickets',
    { message: 'Ma connexion internet coupe tous les soirs depuis lundi', customer_name: 'Alice' },
    '',
  );
  results['ticket creation']?.push({ calls });
  const id = created.ticket.ticket_id as string;
  calls = [];
  await call(
    'POST',
    `/v1/public/tickets/${id}/messages`,
    { content: 'Toujours en panne ce soir' },
    created.access_token,
  );
  results['customer message']?.push({ calls });
  calls = [];
  await call('POST', `/v1/tickets/${id}/messages`, { content: 'Nous regardons votre ligne.' }, agentKey);
  results['agent reply']?.push({ calls });
  // The analysis worker's write (what every customer message leads to when Mistral is configured): a
  // summary and next action make the ticket item about 1.3 KB, as analysed tickets are.
  calls = [];
  const analytics = {
    sentiment: 'negative' as const,
    category: 'technical' as const,
    urgency: 'high' as const,
    churn_risk: 72,
    summary: 'Connexion internet coupée chaque soir depuis lundi. '.repeat(12).trim(),
    next_action: 'Planifier un diagnostic de ligne et rappeler le client avant 18 h. '.repeat(6).trim(),
    analyzed_at: new Date().toISOString(),
  };
  const analysedAt = new Date().toISOString();
  await repository.commit(
    `bench-analysis-${round}`,
    repository.setAnalytics(id, analytics, analysedAt, [newEvent('ticket.analyzed', id, 'assistant', analysedAt)]),
  );
  results["analysis result (the worker's write)"]?.push({ calls });
  // The rest of a ticket's life: an exchange once it is in progress, and the agents' changes.
  calls = [];
  await call('POST', `/v1/public/tickets/${id}/messages`, { content: 'Merci, rien ne change' }, created.access_token);
  await call('POST', `/v1/tickets/${id}/messages`, { content: 'Un technicien passe demain.' }, agentKey);
  results['customer message, then a later agent reply']?.push({ calls });
  const patch = async (name: string, body: unknown) => {
    calls = [];
    const res = await fetch(`${base}/v1/tickets/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${agentKey}`, 'if-match': '*' },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`PATCH: ${res.status} ${await res.text()}`);
    results[name]?.push({ calls });
  };
  await patch('priority change (PATCH)', { priority: 'high' });
  await patch('tags change (PATCH, 2 tags)', { tags: ['billing', 'fibre'] });
  await patch('close (PATCH)', { status: 'closed' });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
console.log(
  `Engine: ${args.endpoint ? endpoint : 'local engine (in memory)'}; ${rounds} rounds; figures of the last round\n`,
);
console.log('| request | DynamoDB calls | operations | read units | write units | per table (R/W) |');
console.log('|---|---|---|---|---|---|');
for (const [name, figures] of Object.entries(results)) {
  const last = figures[figures.length - 1] as Figure;
  const ops = new Map<string, number>();
  for (const c of last.calls) ops.set(c.operation, (ops.get(c.operation) ?? 0) + 1);
  const perTable = new Map<string, [number, number]>();
  for (const c of last.calls.flatMap((x) => x.capacity)) {
    const [r, w] = perTable.get(c.table) ?? [0, 0];
    perTable.set(c.table, [r + c.read, w + c.write]);
  }
  const caps = last.calls.flatMap((c) => c.capacity);
  console.log(
    `| ${name} | ${last.calls.length} | ${[...ops].map(([o, n]) => `${o} x${n}`).join(', ')} | ${sum(caps.map((c) => c.read))} | ${sum(caps.map((c) => c.write))} | ${[...perTable].map(([t, [r, w]]) => `${t} ${r}/${w}`).join(', ')} |`,
  );
}

server.close();
await runtime.close();
await engine?.close();
