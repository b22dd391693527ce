/**
 * `npm run bench:migrate [-- --tickets 10000 --rtt-ms 0,5,20]`
 *
 * Generates a legacy JSON store, then imports it into DynamoDB Local twice in the same run:
 * - with the migration tool (`scripts/migrate.ts`, a child process, as operators run it);
 * - with the legacy method (the old script: one PutItem of the whole ticket per ticket, in sequence, into a
 *   legacy-shaped table), in this process.
 * `--rtt-ms` adds a network round trip in front of DynamoDB Local (a delaying proxy), because on loopback every call
 * is nearly free while against DynamoDB each call costs a few milliseconds: that is what batching and bounded
 * concurrency buy. Prints the figures as a Markdown table for docs/performance.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from '../../api/db/client.js';
import { startLocalEngine } from '../../api/db/local-engine.js';
import { ensureTables } from '../../api/db/schema.js';
import { prefixedTableNames } from '../../api/db/tables.js';
import { legacyStore } from '../legacy/generate.js';
import { commandLine } from '../lib/command-line.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** An HTTP proxy that holds every request `rttMs` before forwarding it: a network round trip, simulated. */
async function delayingProxy(target: string, rttMs: number): Promise<{ endpoint: string; close(): void }> {
  const url = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () =>
      setTimeout(() => {
        const out = http.request(
          { host: url.hostname, port: url.port, method: req.method, path: req.url, headers: req.headers, agent },
          (answer) => {
            res.writeHead(answer.statusCode ?? 500, answer.headers);
            answer.pipe(res);
          },
        );
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(body));
      }, rttMs),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
      agent.destroy();
    },
  };
}

function runTool(file: string, endpoint: string, table: string, concurrency: number) {
  return new Promise<{ wallMs: number; report: { totals: Record<string, number>; timings_ms: { write: number } } }>(
    (resolve, reject) => {
      const reportPath = `${file}.report-${table}.json`;
      const started = Date.now();
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'scripts', 'migrate.ts'),
          '--file',
          file,
          '--report',
          reportPath,
          '--concurrency',
          String(concurrency),
        ],
        {
          cwd: ROOT,
          env: { PATH: process.env.PATH, NODE_ENV: 'test', DYNAMODB_ENDPOINT: endpoint, TICKETS_TABLE: table },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`migrate exited ${code}: ${stderr}`));
        resolve({ wallMs: Date.now() - started, report: JSON.parse(readFileSync(reportPath, 'utf8')) });
      });
    },
  );
}

/** The old script: `save_ticket(ticket)` = PutItem of the raw dict, one after the other, no normalisation. */
async function runLegacy(store: Record<string, Record<string, unknown>>, endpoint: string, table: string) {
  const { client, doc } = createDynamoClients({ endpoint, timeoutMs: 10_000 });
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'ticket_id', AttributeType: 'S' },
        { AttributeName: 'status', AttributeType: 'S' },
        { AttributeName: 'channel', AttributeType: 'S' },
        { AttributeName: 'created_at', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'ticket_id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: ['status', 'channel'].map((a) => ({
        IndexName: `${a}-created_at-index`,
        KeySchema: [
          { AttributeName: a, KeyType: 'HASH' as const },
          { AttributeName: 'created_at', KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      })),
    }),
  );
  const started = Date.now();
  for (const ticket of Object.values(store)) await doc.send(new PutCommand({ TableName: table, Item: ticket }));
  const ms = Date.now() - started;
  client.destroy();
  return ms;
}

async function main() {
  const values = commandLine(
    `
Usage: npm run bench:migrate [-- options]

Generates a legacy JSON store and imports it into DynamoDB Local with the migration tool (concurrency 8 and 1)
and with the legacy method (one PutItem per ticket), behind a proxy adding a round trip to every call.
Prints a Markdown table for docs/performance.md.

Options:
  --tickets <n>        tickets in the generated store (default 10000)
  --rtt-ms <list>      round trips to add, comma-separated milliseconds (default 0,5,20)
  --help               show this help
`,
    { tickets: { type: 'string', default: '10000' }, 'rtt-ms': { type: 'string', default: '0,5,20' } },
  );
  const count = Number(values.tickets);
  const rtts = String(values['rtt-ms']).split(',').map(Number);
  const dir = mkdtempSync(join(os.tmpdir(), 'freeda-bench-'));
  const store = legacyStore(count, 42);
  const tickets = Object.keys(store).length;
  const messages = Object.values(store).reduce((n, t) => n + (t.messages as unknown[]).length, 0);
  const file = join(dir, 'tickets.json');
  writeFileSync(file, JSON.stringify(store, null, 2));
  process.stderr.write(`generated ${tickets} tickets, ${messages} messages in ${file}\n`);

  const engine = await startLocalEngine();
  const rows: string[] = [];
  try {
    for (const rtt of rtts) {
      const proxy = rtt > 0 ? await delayingProxy(engine.endpoint, rtt) : undefined;
      const endpoint = proxy?.endpoint ?? engine.endpoint;
      try {
        const setup = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 10_000 });
        for (const c of [1, 8]) {
          const names = prefixedTableNames(`bench-${rtt}-${c}`);
          await ensureTables(setup.client, names);
        }
        setup.client.destroy();
        for (const c of [8, 1]) {
          process.stderr.write(`rtt ${rtt} ms: migration tool, concurrency ${c}...\n`);
          const tool = await runTool(file, endpoint, `bench-${rtt}-${c}-tickets`, c);
          const writeMs = tool.report.timings_ms.write;
          rows.push(
            `| ${rtt} ms | migration tool (BatchWriteItem, concurrency ${c}) | ${(writeMs / 1000).toFixed(1)} s | ` +
              `**${Math.round(tickets / (writeMs / 1000))}** | ${(tool.wallMs / 1000).toFixed(1)} s |`,
          );
        }
        process.stderr.write(`rtt ${rtt} ms: legacy method...\n`);
        const legacyMs = await runLegacy(store, endpoint, `bench-${rtt}-legacy`);
        rows.push(
          `| ${rtt} ms | legacy method (PutItem per ticket, in sequence) | ${(legacyMs / 1000).toFixed(1)} s | ` +
            `**${Math.round(tickets / (legacyMs / 1000))}** | - |`,
        );
      } finally {
        proxy?.close();
      }
    }
  } finally {
    await engine.close();
  }

  const cpu = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {}
  process.stdout.write(
    [
      `Machine: ${cpu[0]?.model ?? 'unknown CPU'} x${cpu.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
        `${os.platform()} ${os.release()}, Node ${process.version}`,
      `Date: ${new Date().toISOString()}; commit ${commit}`,
      `Data: ${tickets} tickets, ${messages} messages (generated, seed 42)`,
      '',
      '| added round trip | method | write phase | tickets/s | whole command (start, checks, verification) |',
      '|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
