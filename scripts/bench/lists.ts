/**
 * `npm run bench:lists [-- --tickets 100000 --pages 4 --limit 25 --endpoint http://127.0.0.1:8000]`
 *
 * What each ticket-list filter reads: a table of `--tickets` tickets in the stored shape (ticket items and
 * their tag and customer lookup items, written with BatchWriteItem), then every supported filter paged
 * through `--pages` pages of `--limit` tickets with the repository's own list code. For each filter it counts
 * the index entries the Queries read (ScannedCount), the ticket items read by key (BatchGetItem), the capacity
 * DynamoDB reports, and divides by the tickets returned. Without `--endpoint` the local engine is started in
 * memory. Counts do not depend on the machine's load; the seeding time does.
 */
import { performance } from 'node:perf_hooks';
import { batchWriteAll, chunks } from '../../api/db/batch.js';
import { createDynamoClients } from '../../api/db/client.js';
import { startLocalEngine } from '../../api/db/local-engine.js';
import { ensureTables } from '../../api/db/schema.js';
import { prefixedTableNames, TICKET_SK } from '../../api/db/tables.js';
import { type ListFilters, listTarget, TicketLists } from '../../api/tickets/lists.js';
import { CHANNELS, type ListQuery, STATUSES } from '../../api/tickets/model.js';
import { type TicketItem, TicketRepository } from '../../api/tickets/repository.js';
import { commandLine } from '../lib/command-line.js';

const args = commandLine(
  `
Usage: npm run bench:lists [-- options]

Seeds a tickets table in the stored shape, then pages through every supported ticket-list filter and reports
the index entries and ticket items read per ticket returned, and the read units per page. Prints a Markdown
table for docs/performance.md.

Options:
  --tickets <n>      tickets to seed (default 100000)
  --pages <n>        pages read per filter (default 4)
  --limit <n>        tickets per page, 1 to 100 (default 25)
  --parallel <n>     BatchWriteItem calls in flight while seeding (default 8)
  --endpoint <url>   a DynamoDB endpoint to use instead of starting DynamoDB Local in memory
  --help             this text
`,
  {
    tickets: { type: 'string', default: '100000' },
    pages: { type: 'string', default: '4' },
    limit: { type: 'string', default: '25' },
    parallel: { type: 'string', default: '8' },
    endpoint: { type: 'string' },
  },
);
const count = Number(args.tickets);
const pages = Number(args.pages);
const limit = Number(args.limit);
const parallel = Number(args.parallel);

// A deterministic generator (mulberry32), so two runs seed the same table.
let state = 42;
const random = () => {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

const AGENTS = Array.from({ length: 20 }, (_, i) => `agent${i}@freeda.test`);
const TAGS = Array.from({ length: 30 }, (_, i) => `tag-${i}`);
const CUSTOMERS = Math.max(1, Math.floor(count / 5));
const base = Date.UTC(2026, 0, 1);

/** Ticket `i`: created `i` minutes after the base; realistic spreads of status, priority, assignee, tags. */
function ticket(i: number): TicketItem {
  const created = new Date(base + i * 60_000).toISOString();
  const status = pick(STATUSES);
  const r = random();
  const priority = r < 0.05 ? 'urgent' : r < 0.2 ? 'high' : r < 0.3 ? 'low' : 'normal';
  const assigned = status === 'new' || random() < 0.2 ? undefined : pick(AGENTS);
  // Tags: none on 40%, then 1-3, the low-numbered ones far more common.
  const tags =
    random() < 0.4
      ? []
      : [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => TAGS[Math.floor(random() ** 3 * 30)]))]
          .filter((t): t is string => !!t)
          .sort();
  const customer = Math.floor(random() * CUSTOMERS);
  const updated = new Date(base + i * 60_000 + Math.floor(random() * 30 * 86_400_000)).toISOString();
  return {
    ticket_id: `FRE-${i.toString(32).toUpperCase().padStart(8, '0')}`,
    sk: TICKET_SK,
    status,
    priority,
    channel: pick(CHANNELS),
    customer_name: `Customer ${customer}`,
    customer_email: `customer${customer}@example.com`,
    ...(customer % 2 === 0 && { customer_phone: `+336${String(customer).padStart(8, '0')}` }),
    ...(customer % 3 === 0 && { customer_external_id: `wa-${customer}` }),
    ...(assigned && { assigned_to: assigned }),
    tags,
    created_at: created,
    updated_at: updated,
    ...(status !== 'closed' && random() < 0.6 && { waiting_since: updated }),
    version: 1,
  };
}

const engine = args.endpoint ? undefined : await startLocalEngine();
const endpoint = args.endpoint ?? (engine?.endpoint as string);
const tag = `lists-${Date.now().toString(36)}`;
const tables = prefixedTableNames(tag);
const { client, doc } = createDynamoClients({ endpoint, timeoutMs: 60_000, connectTimeoutMs: 30_000 });

try {
  await ensureTables(client, tables);
  const started = performance.now();
  let items = 0;
  const batches = chunks(
    Array.from({ length: count }, (_, i) => i),
    1000,
  );
  for (const group of batches) {
    const stored = group.flatMap((i) => TicketRepository.storedItems(ticket(i)));
    items += stored.length;
    const writes = chunks(stored, 25);
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < writes.length) {
          const batch = writes[next++] as typeof stored;
          await batchWriteAll(
            doc,
            tables.tickets as string,
            batch.map((Item) => ({ PutRequest: { Item } })),
          );
        }
      }),
    );
    process.stderr.write(`\rseeded ${(group.at(-1) as number) + 1}/${count} tickets (${items} items)`);
  }
  const seedSeconds = (performance.now() - started) / 1000;
  process.stderr.write('\n');

  // Every call's read: index entries scanned, ticket items returned by key, capacity.
  const read = { scanned: 0, byKey: 0, units: 0, queries: 0, scans: 0 };
  client.middlewareStack.add(
    (next, context) => async (input) => {
      (input.input as Record<string, unknown>).ReturnConsumedCapacity = 'TOTAL';
      const out = await next(input);
      const o = out.output as {
        ScannedCount?: number;
        Responses?: Record<string, unknown[]>;
        ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }>;
      };
      if (context.commandName === 'ScanCommand') read.scans++;
      if (context.commandName === 'QueryCommand') {
        read.queries++;
        read.scanned += o.ScannedCount ?? 0;
      }
      if (context.commandName === 'BatchGetItemCommand') {
        read.byKey += Object.values(o.Responses ?? {}).reduce((n, r) => n + r.length, 0);
      }
      const consumed = Array.isArray(o.ConsumedCapacity) ? o.ConsumedCapacity : [o.ConsumedCapacity ?? {}];
      read.units += consumed.reduce((n, c) => n + (c.CapacityUnits ?? 0), 0);
      return out;
    },
    { step: 'initialize', name: 'bench-lists' },
  );

  const lists = new TicketLists(doc, tables.tickets as string);
  const agent = AGENTS[3] as string;
  // Ranges of one day (1,440 tickets created) in the middle of the seeded span.
  const minute = (m: number) => new Date(base + m * 60_000).toISOString();
  const mid = Math.floor(count / 2);
  const filters: Array<[string, ListFilters]> = [
    ['(none)', {}],
    ['status=new', { status: 'new' }],
    ['channel=sms', { channel: 'sms' }],
    ['status=in_progress&channel=email', { status: 'in_progress', channel: 'email' }],
    [`assigned_to=<agent>`, { assigned_to: agent }],
    [`assigned_to=<agent>&status=in_progress`, { assigned_to: agent, status: 'in_progress' }],
    [`assigned_to=<agent>&channel=chat`, { assigned_to: agent, channel: 'chat' }],
    [
      `assigned_to=<agent>&status=in_progress&channel=chat`,
      { assigned_to: agent, status: 'in_progress', channel: 'chat' },
    ],
    ['assigned_to=none', { assigned_to: 'none' }],
    ['assigned_to=none&status=new&channel=whatsapp', { assigned_to: 'none', status: 'new', channel: 'whatsapp' }],
    ['priority=urgent', { priority: 'urgent' }],
    ['tag=tag-0 (common)', { tag: 'tag-0' }],
    ['tag=tag-29 (rare)', { tag: 'tag-29' }],
    // Customer 0 has all three identities.
    ['customer=<e-mail>', { customer: 'customer0@example.com' }],
    ['customer=<phone>', { customer: `+336${'0'.repeat(8)}` }],
    ['customer=<external id>', { customer: 'wa-0' }],
    [
      'status=closed&created_from..created_to (1 day)',
      { status: 'closed', created_from: minute(mid), created_to: minute(mid + 1440) },
    ],
    ['created_from..created_to (1 day)', { created_from: minute(mid), created_to: minute(mid + 1440) }],
    ['sort=waiting', { sort: 'waiting' }],
    ['sort=waiting&assigned_to=<agent>', { sort: 'waiting', assigned_to: agent }],
    ['sort=waiting&assigned_to=none', { sort: 'waiting', assigned_to: 'none' }],
    ['updated_from..updated_to (1 day)', { updated_from: minute(mid), updated_to: minute(mid + 1440) }],
  ];

  console.log(
    `Tickets: ${count} (${items} items with lookup items), seeded in ${seedSeconds.toFixed(0)} s; ` +
      `${pages} pages of ${limit} per filter; ${args.endpoint ? endpoint : 'DynamoDB Local in memory'}\n`,
  );
  console.log(
    '| filter | index | tickets returned | index entries read | ticket items read | entries + items read per ticket returned | read units per page | Scans |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, f] of filters) {
    const target = listTarget(f as ListQuery);
    if (!target) throw new Error(`no index for ${name}`);
    Object.assign(read, { scanned: 0, byKey: 0, units: 0, queries: 0, scans: 0 });
    let returned = 0;
    let startKey: Record<string, string> | undefined;
    let n = 0;
    do {
      const page = await lists.list(target, limit, startKey);
      returned += page.items.length;
      startKey = page.lastKey;
      n++;
    } while (startKey && n < pages);
    const perTicket = returned ? ((read.scanned + read.byKey) / returned).toFixed(2) : '-';
    console.log(
      `| \`${name}\` | ${target.index.name} | ${returned} | ${read.scanned} | ${read.byKey} | ${perTicket} | ${(read.units / n).toFixed(1)} | ${read.scans} |`,
    );
  }
} finally {
  client.destroy();
  await engine?.close();
}
