/**
 * `npm run bench:conversation-memory [-- --messages 5000 --size 2000 --clients 16 --rounds 10]`
 *
 * The service's memory while `--clients` clients read one ticket of `--messages` messages (`--size` characters
 * each) at once, `--rounds` times each: customers' reads (GET /v1/public/tickets/{id}) and agents' reads
 * (GET /v1/tickets/{id}) in equal numbers. The service runs as a child process (NODE_ENV=production) on its own
 * DynamoDB Local; its peak resident memory (VmHWM from /proc) is reported before and after the reads, with the
 * bytes each response carried. A conversation read whole grows with the ticket; a read of one page does not.
 */
import { readFileSync } from 'node:fs';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from '../../api/db/client.js';
import { createTables, freePort, startLocalDynamoDB } from '../../test/support/local-dynamodb.js';
import { commandLine } from '../lib/command-line.js';
import { commit, machine, startServer } from './lib.js';

const args = commandLine(
  `
Usage: npm run bench:conversation-memory [-- options]

The service's peak memory (VmHWM) while clients read a ticket of thousands of messages, on DynamoDB Local.

Options:
  --messages <n>      messages in the conversation (default 5000)
  --size <n>          characters per message (default 2000)
  --clients <n>       concurrent readers (default 16)
  --rounds <n>        reads per client (default 10)
  --help              this text
`,
  {
    messages: { type: 'string', default: '5000' },
    size: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '10' },
  },
);
const count = Number(args.messages);
const size = Number(args.size);
const clients = Number(args.clients);
const rounds = Number(args.rounds);
const ADMIN_KEY = 'bench-bootstrap-admin-key-0123456789abcdef';

const peakRssMb = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};

console.log(`Machine: ${machine()}`);
console.log(`Commit ${commit()}, ${new Date().toISOString()}`);
const engine = await startLocalDynamoDB();
const tables = await createTables(engine.endpoint);
const server = await startServer(
  ['--import', 'tsx', 'api/server.ts'],
  {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DYNAMODB_ENDPOINT: engine.endpoint,
    TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    RATE_LIMIT_TICKETS_PER_HOUR: '1000000',
    RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000',
    ...tables.env,
  },
  { port: await freePort() },
);
const pid = server.child.pid as number;
try {
  const post = async (path: string, body: unknown, bearer?: string) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer && { authorization: `Bearer ${bearer}` }) },
      body: JSON.stringify(body),
    });
    return (await res.json()) as {
      ticket: { ticket_id: string; created_at: string };
      access_token: string;
      api_key: string;
    };
  };
  const created = await post('/v1/public/tickets', { message: 'Ma box clignote en rouge', customer_name: 'Alice' });
  const id = created.ticket.ticket_id;
  const token = created.access_token;
  const apiKey = (await post('/v1/api-keys', { name: 'bench', role: 'agent' }, ADMIN_KEY)).api_key;

  const { doc, client } = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 30_000 });
  const start = Date.parse(created.ticket.created_at) + 1000;
  const text = 'x'.repeat(size);
  for (let i = 0; i < count; i += 25) {
    const items = Array.from({ length: Math.min(25, count - i) }, (_, j) => {
      const at = new Date(start + (i + j) * 1000).toISOString();
      const messageId = `bench-${String(i + j).padStart(6, '0')}`;
      return {
        ticket_id: id,
        sk: `MSG#${at}#${messageId}`,
        message_id: messageId,
        type: (i + j) % 2 ? 'agent' : 'customer',
        content: text,
        author_name: 'Alice',
        created_at: at,
      };
    });
    await doc.send(
      new BatchWriteCommand({
        RequestItems: { [tables.names.tickets as string]: items.map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
  client.destroy();

  const before = peakRssMb(pid);
  let bytes = 0;
  let responses = 0;
  const statuses = new Map<number, number>();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let r = 0; r < rounds; r++) {
        const res =
          c % 2
            ? await fetch(`${server.url}/v1/tickets/${id}`, { headers: { authorization: `Bearer ${apiKey}` } })
            : await fetch(`${server.url}/v1/public/tickets/${id}`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status !== 200) continue;
        bytes += body.byteLength;
        responses++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = peakRssMb(pid);
  console.log(
    `\n${count} messages of ${size} characters (${((count * size) / 1e6).toFixed(0)} MB of text); ${clients} clients x ${rounds} reads`,
  );
  console.log('| figure | value |');
  console.log('|---|---|');
  console.log(`| service peak RSS before the reads | ${before.toFixed(0)} MB |`);
  console.log(`| service peak RSS after the reads | ${after.toFixed(0)} MB |`);
  console.log(`| mean response size | ${(bytes / responses / 1024).toFixed(0)} KiB |`);
  console.log(`| successful reads per second | ${(responses / seconds).toFixed(1)} |`);
  console.log(`| answers | ${[...statuses].map(([s, n]) => `${n} x ${s}`).join(', ')} |`);
} finally {
  await server.stop();
  await engine.close();
}
