/**
 * `npm run migrate -- --file <legacy tickets.json> [--dry-run] [--create-tables] [--report <path>]`
 *
 * Imports the legacy JSON store into the tickets table: every record normalised to the new vocabulary and
 * validated whole before anything is written; a timestamped backup of the source; batched, bounded-
 * concurrency writes in an order that makes the run resumable; every ticket read back afterwards.
 * See docs/migration.md. Exit codes: 0 all migrated and verified, 1 some records rejected, 2 fatal error,
 * 130 interrupted.
 */
import { createHash } from 'node:crypto';
import { constants, copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../api/config.js';
import { type DataDirLock, lockDataDir } from '../api/data-dir.js';
import { createDynamoClients, type DynamoClients } from '../api/db/client.js';
import { type LocalEngine, localDataPath, startLocalEngine } from '../api/db/local-engine.js';
import { ensureTables } from '../api/db/schema.js';
import { TicketImportRepository } from '../api/tickets/import-repository.js';
import { type MigrationResult, migrateRecords } from './legacy/migrator.js';
import { type NormalisedRecord, normaliseRecord } from './legacy/normalise.js';
import { Progress } from './legacy/progress.js';

const USAGE = `Usage: npm run migrate -- --file <path> [options]

Imports the legacy Freeda JSON store (an object keyed by ticket id, or a list of tickets) into the
tickets table. The target comes from the same settings as the service:
  DYNAMODB_ENDPOINT set     that endpoint (DynamoDB Local, a container...)
  NODE_ENV=production       AWS (AWS_REGION and the default credential chain)
  neither                   the embedded engine's data under DATA_DIR (stop \`npm start\` first)
  TICKETS_TABLE             the table name (default freeda-tickets)

Options:
  --file <path>       legacy JSON file to import (required)
  --dry-run           read, normalise and report; write nothing, make no backup
  --create-tables     create missing tables first (local endpoints only; on AWS Pulumi owns them)
  --report <path>     write a JSON report of the run
  --concurrency <n>   DynamoDB calls in flight (default 8, 1-64)
  --help              show this help

Exit codes: 0 all migrated and verified, 1 some records rejected (see the report),
2 fatal error (unreadable file, missing tables, verification failed), 130 interrupted.
`;

class Fatal extends Error {
  override name = 'Fatal';
}

interface Rejection {
  index: number;
  key?: string;
  ticket_id?: string;
  reasons: string[];
}

interface Report {
  tool: 'freeda-legacy-migration';
  started_at: string;
  finished_at?: string;
  source: { path: string; sha256?: string; bytes?: number; records?: number };
  backup?: string;
  dry_run: boolean;
  target?: { mode: string; endpoint?: string; region?: string; table: string };
  totals?: Record<string, number>;
  rejected: Rejection[];
  conflicts: Array<{ ticket_id: string; reason?: string }>;
  skipped: Array<{ ticket_id: string; reason?: string }>;
  warnings: Array<{ ticket_id: string; warnings: string[] }>;
  dropped_fields: Record<string, number>;
  verification?: MigrationResult['verification'];
  timings_ms?: { write: number; verify: number };
  outcome: 'ok' | 'rejected' | 'fatal' | 'interrupted';
  error?: string;
  exit_code: number;
}

function parse(argv: string[]) {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        file: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        'create-tables': { type: 'boolean', default: false },
        report: { type: 'string' },
        concurrency: { type: 'string', default: '8' },
        help: { type: 'boolean', default: false },
      },
    });
    return values;
  } catch (err) {
    throw new Fatal(`${(err as Error).message}\n\n${USAGE}`);
  }
}

/** Parses and normalises every record; nothing is written for a record with a single problem. */
function readSource(path: string, report: Report) {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    throw new Fatal(`cannot read ${path}: ${(err as Error).message}`);
  }
  report.source.sha256 = createHash('sha256').update(text).digest('hex');
  report.source.bytes = text.length;
  let data: unknown;
  try {
    data = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new Fatal(`${path} is not valid JSON (truncated or corrupted?): ${(err as Error).message}`);
  }
  let entries: Array<[string | undefined, unknown]>;
  if (Array.isArray(data)) entries = data.map((r) => [undefined, r]);
  else if (data && typeof data === 'object') entries = Object.entries(data);
  else throw new Fatal(`${path} holds neither an object keyed by ticket id nor a list of tickets`);
  report.source.records = entries.length;

  const valid: NormalisedRecord[] = [];
  const seen = new Map<string, number>();
  entries.forEach(([key, raw], index) => {
    const n = normaliseRecord(raw, key);
    if (!n.ok) {
      report.rejected.push({ index, ...(key !== undefined && { key }), ticket_id: n.ticketId, reasons: n.reasons });
      return;
    }
    const id = n.record.ticket.ticket_id;
    const first = seen.get(id);
    if (first !== undefined) {
      report.rejected.push({ index, key, ticket_id: id, reasons: [`ticket_id repeats record #${first}`] });
      return;
    }
    seen.set(id, index);
    valid.push(n.record);
    for (const f of n.record.dropped) report.dropped_fields[f] = (report.dropped_fields[f] ?? 0) + 1;
    if (n.record.warnings.length) report.warnings.push({ ticket_id: id, warnings: n.record.warnings });
  });
  return valid;
}

/** `<file>.backup-20261124T225918123Z`, created exclusively: an existing backup is never overwritten. */
function backup(path: string): string {
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  for (let n = 0; n < 100; n++) {
    const target = join(dirname(path), `${basename(path)}.backup-${stamp}${n ? `-${n}` : ''}`);
    try {
      copyFileSync(path, target, constants.COPYFILE_EXCL);
      return target;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Fatal(`cannot back up ${path} next to it: ${(err as Error).message}`);
      }
    }
  }
  throw new Fatal(`cannot find a free backup name next to ${path}`);
}

function writeReport(path: string, report: Report) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(tmp, path);
}

async function main(argv: string[], report: Report, signal: AbortSignal): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!args.file) throw new Fatal(`--file is required\n\n${USAGE}`);
  const concurrency = Number(args.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new Fatal('--concurrency is a whole number from 1 to 64');
  }
  const file = resolve(args.file);
  report.source.path = file;
  report.dry_run = args['dry-run'] === true;

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(undefined, { service: false });
  } catch (err) {
    if (err instanceof ConfigError) throw new Fatal(err.message);
    throw err;
  }
  const table = config.tables.tickets;

  const records = readSource(file, report);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `Read ${report.source.records} records from ${file}: ${records.length} valid, ${report.rejected.length} rejected`,
  );
  for (const r of report.rejected.slice(0, 20)) {
    out(`  rejected #${r.index} ${r.ticket_id ?? r.key ?? '(no id)'}: ${r.reasons.join('; ')}`);
  }
  if (report.rejected.length > 20) out(`  ... and ${report.rejected.length - 20} more (see the report)`);

  if (report.dry_run) {
    report.totals = { records: report.source.records ?? 0, valid: records.length, rejected: report.rejected.length };
    out('Dry run: nothing written.');
    return report.rejected.length > 0 ? 1 : 0;
  }

  if (args['create-tables'] && config.dynamo.mode === 'aws') {
    throw new Fatal('--create-tables is for local endpoints only: on AWS the Pulumi program creates the tables');
  }

  let engine: LocalEngine | undefined;
  let lock: DataDirLock | undefined;
  let dynamo: DynamoClients | undefined;
  try {
    let endpoint = config.dynamo.endpoint;
    if (config.dynamo.mode === 'embedded') {
      const path = localDataPath(config.dataDir);
      try {
        // DynamoDB Local's data file has one owner at a time: not while `npm start` runs on it.
        lock = lockDataDir(config.dataDir);
        engine = await startLocalEngine({ path });
      } catch (err) {
        throw new Fatal(`cannot open DynamoDB Local in ${path}: ${(err as Error).message}`);
      }
      endpoint = engine.endpoint;
    }
    report.target = {
      mode: config.dynamo.mode,
      ...(config.dynamo.mode === 'embedded' && { endpoint: localDataPath(config.dataDir) }),
      ...(config.dynamo.mode === 'endpoint' && { endpoint }),
      ...(config.awsRegion && { region: config.awsRegion }),
      table,
    };
    out(`Target: ${report.target.mode} ${report.target.endpoint ?? report.target.region ?? ''} table ${table}`);
    dynamo = createDynamoClients({
      endpoint,
      region: config.awsRegion,
      timeoutMs: Math.max(config.dynamo.timeoutMs, 10_000),
      maxAttempts: 5,
    });

    // Local data: like the service, which creates its tables on the embedded engine at start.
    if (engine || args['create-tables']) {
      const created = await ensureTables(dynamo.client, config.tables);
      if (created.length) out(`Created tables: ${created.join(', ')}`);
    }
    const imports = new TicketImportRepository(dynamo.client, dynamo.doc, table);
    const state = await imports.tableProblems().catch((err: Error) => {
      throw new Fatal(`the tickets table does not answer: ${err.message}`);
    });
    if (state.missing) {
      throw new Fatal(
        `table ${table} does not exist; ${config.dynamo.mode === 'aws' ? 'deploy the stack (pulumi up) first' : 'rerun with --create-tables'}`,
      );
    }
    if (state.problems.length)
      throw new Fatal(`table ${table} does not match this version: ${state.problems.join('; ')}`);

    report.backup = backup(file);
    out(`Backup: ${report.backup}`);

    const progress = new Progress(process.stderr, process.stderr.isTTY === true);
    progress.update('migrating', 0, records.length);
    const result = await migrateRecords(records, {
      imports,
      concurrency,
      signal,
      onProgress: (phase, done, total) => progress.update(phase === 'write' ? 'migrating' : 'verifying', done, total),
    });
    progress.end();

    const count = (r: string) => result.outcomes.filter((o) => o.result === r).length;
    for (const o of result.outcomes) {
      if (o.result === 'conflict') report.conflicts.push({ ticket_id: o.ticket_id, reason: o.reason });
      if (o.result === 'skipped') report.skipped.push({ ticket_id: o.ticket_id, reason: o.reason });
    }
    const t = {
      records: report.source.records ?? 0,
      valid: records.length,
      rejected: report.rejected.length + report.conflicts.length,
      written: count('written'),
      updated: count('updated'),
      unchanged: count('unchanged'),
      skipped: count('skipped'),
      conflicts: count('conflict'),
      messages_written: result.messagesWritten,
      not_reached: records.length - result.outcomes.length,
    };
    report.totals = t;
    report.verification = result.verification;
    report.timings_ms = { write: result.writeMs, verify: result.verification.ms };

    const rate = result.writeMs > 0 ? Math.round((t.written + t.updated) / (result.writeMs / 1000)) : 0;
    out(
      `Tickets: ${t.written} written, ${t.updated} updated, ${t.unchanged} unchanged, ${t.skipped} skipped (newer in the table), ` +
        `${t.rejected} rejected; ${t.messages_written} messages written in ${result.writeMs} ms (${rate} tickets/s)`,
    );
    for (const c of report.conflicts.slice(0, 20)) out(`  conflict ${c.ticket_id}: ${c.reason}`);
    if (result.interrupted) {
      out(
        `Interrupted after ${result.outcomes.length} of ${records.length} tickets; run the same command again to finish.`,
      );
      return 130;
    }
    const v = result.verification;
    out(
      `Verification: ${v.checked - v.failures.length}/${v.checked} tickets read back as written` +
        (v.extraMessages ? ` (${v.extraMessages} newer messages found in the table)` : ''),
    );
    for (const f of v.failures.slice(0, 20)) out(`  ${f.ticket_id}: ${f.problem}`);
    if (v.failures.length) throw new Fatal(`verification failed for ${v.failures.length} tickets`);
    return t.rejected > 0 ? 1 : 0;
  } finally {
    dynamo?.client.destroy();
    await engine?.close();
    lock?.release();
  }
}

const report: Report = {
  tool: 'freeda-legacy-migration',
  started_at: new Date().toISOString(),
  source: { path: '' },
  dry_run: false,
  rejected: [],
  conflicts: [],
  skipped: [],
  warnings: [],
  dropped_fields: {},
  outcome: 'ok',
  exit_code: 0,
};
const reportPath = (() => {
  const i = process.argv.indexOf('--report');
  const v = i >= 0 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith('--report='))?.slice(9);
  return v && !v.startsWith('--') ? resolve(v) : undefined;
})();

// Ctrl-C / SIGTERM: stop taking new tickets, let the writes in flight finish, report. A second one quits now
// (still safe: a ticket item is only ever written after its messages).
const abort = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write(`\n${sig}: stopping after the writes in flight (again to quit at once)\n`);
    abort.abort();
  });
}

main(process.argv.slice(2), report, abort.signal)
  .catch((err: Error) => {
    process.stderr.write(`migrate: ${err instanceof Fatal ? err.message : (err.stack ?? err.message)}\n`);
    report.error = err.message;
    return 2;
  })
  .then((code) => {
    report.exit_code = code;
    report.outcome = code === 0 ? 'ok' : code === 1 ? 'rejected' : code === 130 ? 'interrupted' : 'fatal';
    report.finished_at = new Date().toISOString();
    if (reportPath && !process.argv.includes('--help')) {
      try {
        writeReport(reportPath, report);
      } catch (err) {
        process.stderr.write(`migrate: cannot write the report to ${reportPath}: ${(err as Error).message}\n`);
        code = 2;
      }
    }
    process.exit(code);
  });
