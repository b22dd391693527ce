/**
 * The legacy migration, run as operators run it: the real command line in a child process, against a
 * DynamoDB Local on loopback, with the project's own legacy-format fixtures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { TICKET_SK } from '../../api/db/tables.js';
import { TicketRepository } from '../../api/tickets/repository.js';
import { legacyStore } from '../../scripts/legacy/generate.js';
import { canonical } from '../../scripts/legacy/migrator.js';
import { normaliseRecord } from '../../scripts/legacy/normalise.js';
import { uniqueTableNames } from '../support/engine.js';
import { type Harness, startHarness } from '../support/harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'legacy');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'migrate.ts'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finish(child: ChildProcess, onStderr?: (text: string) => void): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
    onStderr?.(stderr);
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const tmp = () => mkdtempSync(join(tmpdir(), 'freeda-migrate-'));

/** A copy of a fixture in a scratch directory (the tool writes its backup next to the source). */
function copyFixture(name: string): string {
  const file = join(tmp(), name);
  writeFileSync(file, readFileSync(join(FIXTURES, name)));
  return file;
}

const readReport = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('legacy migration (npm run migrate)', function () {
  // A bound against a hang only: 4,000-ticket runs take minutes on a saturated machine.
  this.timeout(300_000);
  let h: Harness;
  let env: Record<string, string>;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(async () => {
    // Each test migrates into tables of its own, created by the harness' definitions.
    const tables = uniqueTableNames();
    const { ensureTables } = await import('../../api/db/schema.js');
    await ensureTables(h.runtime.dynamo.client, tables);
    env = { DYNAMODB_ENDPOINT: h.endpoint, TICKETS_TABLE: tables.tickets, PRINCIPALS_TABLE: tables.principals };
  });

  const migrate = (args: string[], extra: Record<string, string> = {}) => finish(start(args, { ...env, ...extra }));

  async function tableItems(): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const out = await h.runtime.dynamo.doc.send(
        new ScanCommand({ TableName: env.TICKETS_TABLE, ExclusiveStartKey, ConsistentRead: true }),
      );
      items.push(...(out.Items ?? []));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  /** What the table must hold for a legacy store: every valid record's ticket item and message items. */
  function expectedItems(store: Record<string, unknown>): string[] {
    return Object.entries(store)
      .map(([key, raw]) => normaliseRecord(raw, key))
      .flatMap((n) =>
        n.ok ? [n.record.ticket, ...n.record.messages, ...TicketRepository.lookupItems(n.record.ticket)] : [],
      )
      .map(canonical)
      .sort();
  }

  async function partition(ticketId: string) {
    const out = await h.runtime.dynamo.doc.send(
      new QueryCommand({
        TableName: env.TICKETS_TABLE,
        KeyConditionExpression: 'ticket_id = :id',
        ExpressionAttributeValues: { ':id': ticketId },
      }),
    );
    return out.Items ?? [];
  }

  it('migrates every shape of the legacy store, verifies it, and the API serves it in the new vocabulary', async () => {
    const file = copyFixture('tickets.json');
    const reportPath = join(tmp(), 'report.json');
    const run = await migrate(['--file', file, '--report', reportPath]);
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    const report = readReport(reportPath);
    expect(report.outcome).to.equal('ok');
    expect(report.totals).to.include({ records: 9, valid: 9, rejected: 0, written: 9, messages_written: 23 });
    expect(report.verification).to.include({ checked: 9 });
    expect(report.verification.failures).to.deep.equal([]);
    expect(report.dropped_fields).to.include({ public: 3, initial_message: 3, 'messages.sentiment': 1 });
    expect(run.stdout).to.match(/Verification: 9\/9 tickets read back/);

    const source = JSON.parse(readFileSync(file, 'utf8'));
    expect((await tableItems()).map(canonical).sort()).to.deep.equal(expectedItems(source));

    // Point the running app at the migrated table through a second harness on the same tables.
    const api = await startHarness({ TICKETS_TABLE: env.TICKETS_TABLE as string });
    try {
      const m = await api.user('manager');
      const get = (id: string) =>
        api.http().get(`/v1/tickets/${id}`).set('authorization', `Bearer ${m.token}`).expect(200);

      const closed = (await get('FRE-A508F75D')).body;
      expect(closed).to.include({
        status: 'closed',
        channel: 'chat',
        priority: 'normal',
        customer_name: 'Anonyme',
        created_at: '2025-11-21T19:36:28.759Z',
        closed_at: '2025-11-21T19:46:22.041Z',
        resolution_seconds: 593,
        version: 1,
      });
      expect(closed.analytics).to.include({
        sentiment: 'negative',
        category: 'cancellation',
        urgency: 'high',
        churn_risk: 95,
        alert: 'urgent_retention',
        analyzed_at: '2025-11-21T19:36:32.180Z',
      });
      expect(closed.messages.map((x: { type: string }) => x.type)).to.deep.equal(['customer', 'assistant']);

      const phone = (await get('FRE-69BD8B68')).body;
      expect(phone).to.include({
        status: 'in_progress',
        channel: 'phone',
        priority: 'high',
        assigned_to: 'agent.smith@freeda.test',
      });
      expect(phone.analytics).to.include({ sentiment: 'positive', category: 'billing', urgency: 'low' });
      // An agent message flagged internal stays an internal note.
      expect(phone.messages.map((x: { type: string }) => x.type)).to.deep.equal([
        'customer',
        'assistant',
        'customer',
        'internal',
        'internal',
        'agent',
      ]);

      const offset = (await get('FRE-7E2B4599')).body;
      expect(offset).to.include({
        status: 'closed',
        channel: 'whatsapp',
        priority: 'low',
        created_at: '2025-11-21T18:51:29.265Z',
        resolution_seconds: 238,
      });
      expect(offset).to.not.have.property('analytics');

      const legacy = (await get('550e8400-e29b-41d4-a716-446655440000')).body;
      expect(legacy).to.include({ status: 'in_progress', channel: 'chat', created_at: '2024-01-15T10:30:00.000Z' });
      expect(
        legacy.messages.map((x: { message_id: string; type: string }) => `${x.message_id}:${x.type}`),
      ).to.deep.equal(['msg-001:customer', 'msg-002:assistant', 'msg-003:customer', 'msg-004:assistant']);
      expect(legacy.messages[1].created_at).to.equal('2024-01-15T10:30:15.123Z');

      // Reopened in the legacy system without clearing closed_at: no stale closing data.
      const reopened = (await get('1d109e3a-7017-4921-b372-78b5673aa763')).body;
      expect(reopened).to.include({ status: 'in_progress', channel: 'email' });
      expect(reopened).to.not.have.any.keys('closed_at', 'resolution_seconds');
      expect(reopened.analytics.churn_risk).to.equal(0);

      // Migrated tickets are in the list indexes (status, channel, assignee).
      const list = await api
        .http()
        .get('/v1/tickets?status=closed')
        .set('authorization', `Bearer ${m.token}`)
        .expect(200);
      expect(list.body.items.map((t: { ticket_id: string }) => t.ticket_id).sort()).to.deep.equal([
        '660e8400-e29b-41d4-a716-446655440001',
        'FRE-7E2B4599',
        'FRE-A508F75D',
      ]);
      const queue = await api
        .http()
        .get('/v1/tickets?assigned_to=agent.smith@freeda.test&status=in_progress')
        .set('authorization', `Bearer ${m.token}`)
        .expect(200);
      expect(queue.body.items.map((t: { ticket_id: string }) => t.ticket_id)).to.deep.equal(['FRE-69BD8B68']);

      // And in the queues: oldest unanswered first (closed tickets and answered ones wait for nothing), unassigned.
      const waiting = await api
        .http()
        .get('/v1/tickets?sort=waiting&limit=100')
        .set('authorization', `Bearer ${m.token}`)
        .expect(200);
      const waits = waiting.body.items as Array<{ ticket_id: string; waiting_since: string; status: string }>;
      expect(waits.map((t) => t.waiting_since)).to.deep.equal(waits.map((t) => t.waiting_since).sort());
      expect(waits.map((t) => t.status)).to.not.include('closed');
      expect(waits.find((t) => t.ticket_id === '550e8400-e29b-41d4-a716-446655440000')?.waiting_since).to.equal(
        '2024-01-15T10:30:00.000Z',
      );
      expect(waits.map((t) => t.ticket_id)).to.not.include('FRE-69BD8B68');
      const unassigned = await api
        .http()
        .get('/v1/tickets?assigned_to=none&limit=100')
        .set('authorization', `Bearer ${m.token}`)
        .expect(200);
      expect(unassigned.body.items).to.have.length(8);
      expect(unassigned.body.items.map((t: { ticket_id: string }) => t.ticket_id)).to.not.include('FRE-69BD8B68');

      // Legacy tickets have no access token: the public API cannot open them with any token.
      await api.http().get('/v1/public/tickets/FRE-A508F75D').set('authorization', 'Bearer anything').expect(404);
    } finally {
      await api.close();
    }
  });

  it('puts imported tickets in the tag, customer and waiting lists', async () => {
    const record = (id: string, minute: number, extra: Record<string, unknown>) => ({
      ticket_id: id,
      customer_name: 'Zoé',
      channel: 'email',
      status: 'nouveau',
      priority: 'normale',
      created_at: `2025-11-21T10:${minute}:00.000000`,
      messages: [
        {
          message_id: `${id}-1`,
          content: 'Bonjour',
          author: 'Zoé',
          timestamp: `2025-11-21T10:${minute}:00.000000`,
          type: 'client',
        },
      ],
      ...extra,
    });
    const file = join(tmp(), 'tagged.json');
    writeFileSync(
      file,
      JSON.stringify({
        'FRE-7A6000A1': record('FRE-7A6000A1', 10, { tags: ['fibre', 'vip'], customer_email: 'Zoe@Example.com' }),
        'FRE-7A6000A2': record('FRE-7A6000A2', 20, { tags: ['fibre'] }),
      }),
    );
    const run = await migrate(['--file', file]);
    expect(run.code, run.stdout + run.stderr).to.equal(0);

    const api = await startHarness({ TICKETS_TABLE: env.TICKETS_TABLE as string });
    try {
      const m = await api.user('manager');
      const ids = async (query: string) =>
        (
          await api.http().get(`/v1/tickets?${query}`).set('authorization', `Bearer ${m.token}`).expect(200)
        ).body.items.map((t: { ticket_id: string }) => t.ticket_id);
      expect(await ids('tag=fibre')).to.deep.equal(['FRE-7A6000A2', 'FRE-7A6000A1']);
      expect(await ids('tag=vip')).to.deep.equal(['FRE-7A6000A1']);
      expect(await ids('customer=zoe@example.com')).to.deep.equal(['FRE-7A6000A1']);
      expect(await ids('sort=waiting')).to.deep.equal(['FRE-7A6000A1', 'FRE-7A6000A2']);
    } finally {
      await api.close();
    }
  });

  it('keeps a timestamped backup next to the source and never overwrites an earlier one', async () => {
    const file = copyFixture('tickets.json');
    await migrate(['--file', file]);
    await migrate(['--file', file]);
    const dir = join(file, '..');
    const backups = readdirSync(dir).filter((f) => /^tickets\.json\.backup-\d{8}T\d{9}Z(-\d+)?$/.test(f));
    expect(backups).to.have.length(2);
    for (const b of backups) expect(readFileSync(join(dir, b))).to.deep.equal(readFileSync(file));
  });

  it('rejects malformed records with their reasons, writes the valid ones, and leaves no trace of the rest (exit 1)', async () => {
    const file = copyFixture('malformed.json');
    const reportPath = join(tmp(), 'report.json');
    const run = await migrate(['--file', file, '--report', reportPath]);
    expect(run.code, run.stdout + run.stderr).to.equal(1);
    const report = readReport(reportPath);
    expect(report.outcome).to.equal('rejected');
    expect(report.totals).to.include({ records: 6, valid: 2, rejected: 4, written: 2 });
    const reasons = Object.fromEntries(
      report.rejected.map((r: { key: string; reasons: string[] }) => [r.key, r.reasons.join(' | ')]),
    );
    expect(reasons['FRE-0000BBBB']).to.match(/no ticket_id/);
    expect(reasons['FRE-0000CCCC']).to.match(/status "archivé" is not a known status/);
    expect(reasons['FRE-0000DDDD']).to.match(/customer_name is not a string/);
    expect(reasons['FRE-0000DDDD']).to.match(/messages\[1\]\.content is not a string/);
    expect(reasons['FRE-0000DDDD']).to.match(/messages\[1\]\.timestamp "hier" is not a timestamp/);
    expect(reasons['FRE-0000EEEE']).to.match(/messages is not a list/);
    expect(run.stdout).to.match(/rejected #2 FRE-0000CCCC: status "archivé"/);

    for (const id of ['FRE-0000BBBB', 'FRE-0000CCCC', 'FRE-0000DDDD', 'FRE-0000EEEE']) {
      expect(await partition(id), id).to.deep.equal([]);
    }
    expect(await partition('FRE-0000AAAA')).to.have.length(2);
    expect(await partition('FRE-0000FFFF')).to.have.length(3);
    expect(report.verification.failures).to.deep.equal([]);
  });

  it('stops on a truncated file before writing anything (exit 2), and says why', async () => {
    const file = join(tmp(), 'tickets.json');
    writeFileSync(file, readFileSync(join(FIXTURES, 'tickets.json')).subarray(0, 1500));
    const reportPath = join(tmp(), 'report.json');
    const run = await migrate(['--file', file, '--report', reportPath]);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/is not valid JSON \(truncated or corrupted\?\)/);
    expect(readReport(reportPath)).to.include({ outcome: 'fatal', exit_code: 2 });
    expect(await tableItems()).to.deep.equal([]);
    expect(readdirSync(join(file, '..')).filter((f) => f.includes('backup'))).to.deep.equal([]);
  });

  it('stops when the file is missing or the table does not exist (exit 2)', async () => {
    const missingFile = await migrate(['--file', join(tmp(), 'nope.json')]);
    expect(missingFile.code).to.equal(2);
    expect(missingFile.stderr).to.match(/cannot read/);

    const noTable = await migrate(['--file', copyFixture('tickets.json')], { TICKETS_TABLE: 'no-such-tickets' });
    expect(noTable.code).to.equal(2);
    expect(noTable.stderr).to.match(/table no-such-tickets does not exist; rerun with --create-tables/);

    const created = await migrate(['--file', copyFixture('tickets.json'), '--create-tables'], {
      TICKETS_TABLE: `created-${Date.now()}-tickets`,
    });
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.match(/Created tables: created-/);
  });

  it('refuses --create-tables against AWS, and asks for --file', async () => {
    const aws = await migrate(['--file', copyFixture('tickets.json'), '--create-tables'], {
      DYNAMODB_ENDPOINT: '',
      NODE_ENV: 'production',
      AWS_REGION: 'eu-west-3',
    });
    expect(aws.code).to.equal(2);
    expect(aws.stderr).to.match(/--create-tables is for local endpoints only/);
    const noFile = await migrate([]);
    expect(noFile.code).to.equal(2);
    expect(noFile.stderr).to.match(/--file is required/);
    const help = await migrate(['--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/Usage: npm run migrate -- --file <path>/);
  });

  it('writes nothing in a dry run', async () => {
    const file = copyFixture('malformed.json');
    const run = await migrate(['--file', file, '--dry-run']);
    expect(run.code).to.equal(1);
    expect(run.stdout).to.match(/Dry run: nothing written/);
    expect(await tableItems()).to.deep.equal([]);
  });

  it('converges when run again: nothing rewritten, no duplicates, same table', async () => {
    const file = copyFixture('tickets.json');
    expect((await migrate(['--file', file])).code).to.equal(0);
    const first = (await tableItems()).map(canonical).sort();
    const reportPath = join(tmp(), 'report.json');
    const again = await migrate(['--file', file, '--report', reportPath]);
    expect(again.code).to.equal(0);
    expect(readReport(reportPath).totals).to.include({ written: 0, unchanged: 9, messages_written: 0 });
    expect((await tableItems()).map(canonical).sort()).to.deep.equal(first);
  });

  it('never overwrites a migrated ticket that changed since, nor a ticket it did not write', async () => {
    const file = copyFixture('tickets.json');
    expect((await migrate(['--file', file])).code).to.equal(0);
    const api = await startHarness({ TICKETS_TABLE: env.TICKETS_TABLE as string });
    try {
      const m = await api.user('manager');
      await api
        .http()
        .patch('/v1/tickets/FRE-17E2F3FE')
        .set('authorization', `Bearer ${m.token}`)
        .set('if-match', '"1"')
        .send({ status: 'closed' })
        .expect(200);
    } finally {
      await api.close();
    }
    // A ticket of the new service that happens to carry a legacy id.
    await h.runtime.dynamo.doc.send(
      new (await import('@aws-sdk/lib-dynamodb')).UpdateCommand({
        TableName: env.TICKETS_TABLE,
        Key: { ticket_id: 'FRE-A508F75D', sk: TICKET_SK },
        UpdateExpression: 'REMOVE migrated_from',
      }),
    );
    const reportPath = join(tmp(), 'report.json');
    const run = await migrate(['--file', file, '--report', reportPath]);
    expect(run.code).to.equal(1);
    const report = readReport(reportPath);
    expect(report.totals).to.include({ unchanged: 7, skipped: 1, conflicts: 1 });
    expect(report.skipped[0]).to.include({ ticket_id: 'FRE-17E2F3FE' });
    expect(report.conflicts[0]).to.include({ ticket_id: 'FRE-A508F75D' });
    const [ticket] = (await partition('FRE-17E2F3FE')).filter((i) => i.sk === TICKET_SK);
    expect(ticket).to.include({ status: 'closed', version: 2 });
  });

  it('replaces a migrated, untouched ticket when a later snapshot of the legacy store is newer', async () => {
    const file = copyFixture('tickets.json');
    expect((await migrate(['--file', file])).code).to.equal(0);
    const store = JSON.parse(readFileSync(file, 'utf8'));
    const t = store['550e8400-e29b-41d4-a716-446655440000'];
    t.status = 'fermé';
    t.closed_at = '2024-01-15T11:00:00.000000';
    t.messages.push({ id: 'msg-005', role: 'user', content: 'Merci, ça marche', timestamp: '2024-01-15T10:59:00' });
    writeFileSync(file, JSON.stringify(store));
    const reportPath = join(tmp(), 'report.json');
    expect((await migrate(['--file', file, '--report', reportPath])).code).to.equal(0);
    expect(readReport(reportPath).totals).to.include({ updated: 1, unchanged: 8 });
    expect((await tableItems()).map(canonical).sort()).to.deep.equal(expectedItems(store));
  });

  it('stops cleanly on Ctrl-C (exit 130, report says how far it got), and the rerun completes the table', async () => {
    const store = legacyStore(3000, 11);
    const file = join(tmp(), 'big.json');
    writeFileSync(file, JSON.stringify(store));
    const reportPath = join(tmp(), 'report.json');
    const child = start(['--file', file, '--concurrency', '2', '--report', reportPath], env);
    let interrupted = false;
    const run = await finish(child, (stderr) => {
      if (!interrupted && /migrating: [1-9]\d*\/3000/.test(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    expect(run.code, run.stdout + run.stderr).to.equal(130);
    expect(run.stdout).to.match(/Interrupted after \d+ of 3000 tickets; run the same command again/);
    const report = readReport(reportPath);
    expect(report.outcome).to.equal('interrupted');
    expect(report.totals.not_reached).to.be.above(0);
    // Whatever was stopped, no ticket item exists without all its messages.
    const items = await tableItems();
    const messages = new Map<string, number>();
    for (const i of items)
      if (i.sk !== TICKET_SK) messages.set(String(i.ticket_id), (messages.get(String(i.ticket_id)) ?? 0) + 1);
    for (const t of items.filter((i) => i.sk === TICKET_SK)) {
      const source = normaliseRecord(store[String(t.ticket_id)] ?? store[String(t.ticket_id).toLowerCase()]);
      expect(source.ok && messages.get(String(t.ticket_id))).to.equal(source.ok && source.record.messages.length);
    }

    expect((await migrate(['--file', file])).code).to.equal(0);
    expect((await tableItems()).map(canonical).sort()).to.deep.equal(expectedItems(store));
  });

  it('converges after being killed half-way: the rerun completes the table, equal to the source', async () => {
    const store = legacyStore(4000, 7);
    const file = join(tmp(), 'big.json');
    writeFileSync(file, JSON.stringify(store));
    const child = start(['--file', file, '--concurrency', '4'], env);
    let killed = false;
    const run = await finish(child, (stderr) => {
      // Kill it as soon as it reports progress past the first group.
      const m = /migrating: (\d+)\/4000/g;
      const done = [...stderr.matchAll(m)].map((x) => Number(x[1]));
      if (!killed && done.some((d) => d > 0 && d < 4000)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    expect(run.signal).to.equal('SIGKILL');
    const partial = (await tableItems()).filter((i) => i.sk === TICKET_SK).length;
    expect(partial).to.be.above(0).and.below(4000);

    const reportPath = join(tmp(), 'report.json');
    const rerun = await migrate(['--file', file, '--report', reportPath]);
    expect(rerun.code, rerun.stdout + rerun.stderr).to.equal(0);
    const totals = readReport(reportPath).totals;
    expect(totals.written).to.be.above(0);
    expect(totals.written + totals.unchanged).to.equal(4000);
    expect((await tableItems()).map(canonical).sort()).to.deep.equal(expectedItems(store));
  });
});
