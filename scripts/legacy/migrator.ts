/**
 * Writes normalised legacy records into the tickets table, then reads every one back.
 *
 * Order of writes, per group of up to 100 tickets: one consistent BatchGetItem of the ticket items, then the
 * message items (BatchWriteItem, 25 a call, several calls in flight), then the ticket items. A ticket item
 * is therefore written only once all its messages are stored: a ticket is either absent (and the next run
 * writes it again, same keys, same values) or complete. Killing the run at any point and running it again
 * converges on the same table.
 *
 * A ticket item already in the table is never blindly overwritten:
 * - equal to what would be written: nothing to do (`unchanged`);
 * - written by an earlier migration, never changed since (version 1) and older than the source: replaced by
 *   a conditional put on that exact version and updated_at (`updated`: migrating a later legacy snapshot);
 * - otherwise (changed in the new service, analysed again, newer): left as it is (`skipped`);
 * - not written by the migration at all (an id collision): refused (`conflict`).
 */

import { chunks } from '../../api/db/batch.js';
import { MAX_BATCH_GET, MAX_BATCH_WRITE, type TicketImportRepository } from '../../api/tickets/import-repository.js';
import { type LookupItem, type MessageItem, type TicketItem, TicketRepository } from '../../api/tickets/repository.js';
import { MIGRATION_MARK, type NormalisedRecord } from './normalise.js';
import { forEachLimit, limiter } from './pool.js';

export type Result = 'written' | 'updated' | 'unchanged' | 'skipped' | 'conflict';

export interface TicketOutcome {
  ticket_id: string;
  result: Result;
  reason?: string;
}

export interface VerificationFailure {
  ticket_id: string;
  problem: string;
}

export interface MigrationResult {
  outcomes: TicketOutcome[];
  messagesWritten: number;
  interrupted: boolean;
  writeMs: number;
  verification: { checked: number; failures: VerificationFailure[]; extraMessages: number; ms: number };
}

export interface MigratorOptions {
  imports: TicketImportRepository;
  /** DynamoDB calls in flight at once. */
  concurrency: number;
  onProgress?: (phase: 'write' | 'verify', done: number, total: number) => void;
  /** Aborting stops taking new groups; the writes in flight finish, so nothing is left half-written. */
  signal?: AbortSignal;
}

/** JSON with sorted keys: two items are equal when their canonical forms are. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function decide(record: NormalisedRecord, existing: TicketItem | undefined): TicketOutcome & { replace?: TicketItem } {
  const { ticket } = record;
  const id = ticket.ticket_id;
  if (!existing) return { ticket_id: id, result: 'written' };
  if (existing.migrated_from !== MIGRATION_MARK.migrated_from) {
    return {
      ticket_id: id,
      result: 'conflict',
      reason: 'a ticket with this id exists and was not written by a migration',
    };
  }
  if (canonical(existing) === canonical(ticket)) return { ticket_id: id, result: 'unchanged' };
  if (existing.version === 1 && existing.updated_at < ticket.updated_at) {
    return { ticket_id: id, result: 'updated', replace: existing };
  }
  return {
    ticket_id: id,
    result: 'skipped',
    reason: `already in the table and changed since (version ${existing.version}, updated_at ${existing.updated_at})`,
  };
}

export async function migrateRecords(records: NormalisedRecord[], options: MigratorOptions): Promise<MigrationResult> {
  const { imports, concurrency, signal } = options;
  const call = limiter(concurrency);
  const outcomes: TicketOutcome[] = [];
  let messagesWritten = 0;
  let done = 0;
  const started = Date.now();

  const groups = chunks(records, MAX_BATCH_GET);
  // Enough groups in flight to keep `concurrency` calls busy while each group waits on its own steps.
  await forEachLimit(
    groups,
    Math.max(1, Math.ceil(concurrency / 2)),
    async (group) => {
      const existing = await call(() => imports.ticketItems(group.map((r) => r.ticket.ticket_id)));
      const plans = group.map((r) => ({ record: r, plan: decide(r, existing.get(r.ticket.ticket_id)) }));
      const toStore = plans.filter((p) => p.plan.result === 'written' || p.plan.result === 'updated');

      // 1. Every message of the group's tickets, and their tag and customer lookup items (puts of the same key
      // and value are harmless on a rerun).
      const messages: MessageItem[] = toStore.flatMap((p) => p.record.messages);
      const lookups = toStore.flatMap((p) => TicketRepository.lookupItems(p.record.ticket));
      await Promise.all(
        chunks<MessageItem | LookupItem>([...messages, ...lookups], MAX_BATCH_WRITE).map((batch) =>
          call(() => imports.putAll(batch)),
        ),
      );
      messagesWritten += messages.length;

      // 2. Then the ticket items: new ones in batches, replacements one by one under their condition.
      const fresh = toStore.filter((p) => p.plan.result === 'written').map((p) => p.record.ticket);
      await Promise.all(chunks(fresh, MAX_BATCH_WRITE).map((batch) => call(() => imports.putAll(batch))));
      await Promise.all(
        toStore
          .filter((p) => p.plan.replace)
          .map(async (p) => {
            const old = p.plan.replace as TicketItem;
            const ok = await call(() => imports.replaceTicket(p.record.ticket, old));
            if (!ok) Object.assign(p.plan, { result: 'skipped', reason: 'changed in the table during the migration' });
          }),
      );

      for (const { plan } of plans) {
        const { replace: _old, ...outcome } = plan;
        outcomes.push(outcome);
      }
      done += group.length;
      options.onProgress?.('write', done, records.length);
    },
    signal,
  );
  const writeMs = Date.now() - started;
  const interrupted = signal?.aborted === true && done < records.length;
  if (interrupted) {
    return {
      outcomes,
      messagesWritten,
      interrupted,
      writeMs,
      verification: { checked: 0, failures: [], extraMessages: 0, ms: 0 },
    };
  }
  const verification = await verify(records, outcomes, options, call);
  return { outcomes, messagesWritten, interrupted: false, writeMs, verification };
}

/**
 * Reads every migrated ticket back (one consistent Query per ticket): the ticket item must be what was
 * written and every source message must be there with the same content. Skipped tickets must exist.
 */
async function verify(
  records: NormalisedRecord[],
  outcomes: TicketOutcome[],
  options: MigratorOptions,
  call: ReturnType<typeof limiter>,
): Promise<MigrationResult['verification']> {
  const started = Date.now();
  const result = new Map(outcomes.map((o) => [o.ticket_id, o.result]));
  const toCheck = records.filter((r) => result.get(r.ticket.ticket_id) !== 'conflict');
  const failures: VerificationFailure[] = [];
  let extraMessages = 0;
  let done = 0;
  options.onProgress?.('verify', 0, toCheck.length);
  await forEachLimit(toCheck, options.concurrency, async (record) => {
    const id = record.ticket.ticket_id;
    const stored = await call(() => options.imports.readBack(id));
    const fail = (problem: string) => failures.push({ ticket_id: id, problem });
    if (!stored) fail('ticket item not found');
    else if (result.get(id) !== 'skipped') {
      if (canonical(stored.ticket) !== canonical(record.ticket)) {
        const diff = Object.keys({ ...stored.ticket, ...record.ticket })
          .filter((k) => canonical(stored.ticket[k]) !== canonical(record.ticket[k]))
          .sort();
        fail(`ticket item differs in ${diff.join(', ')}`);
      }
      const bySk = new Map(stored.messages.map((m) => [m.sk, m]));
      const missing = record.messages.filter((m) => canonical(bySk.get(m.sk)) !== canonical(m));
      if (missing.length > 0) fail(`${missing.length} of ${record.messages.length} messages missing or different`);
      const source = new Set(record.messages.map((m) => m.sk));
      extraMessages += stored.messages.filter((m) => !source.has(m.sk)).length;
    }
    done++;
    if (done % 100 === 0 || done === toCheck.length) options.onProgress?.('verify', done, toCheck.length);
  });
  return { checked: toCheck.length, failures, extraMessages, ms: Date.now() - started };
}
