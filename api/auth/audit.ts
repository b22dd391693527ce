/**
 * The account audit trail: who created, changed or deleted an account or an API key, and every login, failed
 * or not, with the client's address (never a password or a token). Each event is stored (api/auth/audit-log.ts,
 * read by admins through `GET /v1/audit`) and also written as a JSON log line (`"audit": "<type>"`).
 *
 * An event about a change of the principals table is a put in that change's own transaction (no change without
 * its event); a login changes nothing there and is one put of its own.
 */
import type { Write } from '../db/transaction.js';
import { eventId } from '../events/ids.js';
import type { Logger } from '../logger.js';
import type { CursorCodec } from '../tickets/cursor.js';
import { type AuditFilter, AuditLog } from './audit-log.js';

export const AUDIT_EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deleted',
  'api_key.created',
  'api_key.revoked',
  'auth.login',
  'auth.login_failed',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  type: AuditEventType;
  /** Who acted: a principal id (`user e-mail`, `api-key:<id>`, `bootstrap-admin`), or the e-mail logging in. */
  actor: string;
  /** What it acted on: a user's e-mail or an API key id. */
  subject: string;
  /** Client address (logins). */
  client_ip?: string;
  /** Which fields changed (updates), never their values. */
  changes?: string[];
}

/** A stored event: its id sorts in time order (`<ISO time>#<random>`, as ticket events). */
export interface AuditRecord extends AuditEvent {
  id: string;
  created_at: string;
}

/** An event about to be written in a change's transaction: its put, and its log line once committed. */
export interface PendingAudit {
  write: Write;
  committed(): void;
}

export interface AuditPage {
  events: AuditRecord[];
  /** Null at the oldest event kept. */
  next_cursor: string | null;
}

export interface AuditQuery extends AuditFilter {
  after?: string;
  limit?: number;
}

export interface AuditTrail {
  /** An event written in the transaction of the change it describes. */
  prepare(event: AuditEvent): PendingAudit;
  /** An event with no other write (a login): one put, then its log line. */
  record(event: AuditEvent): Promise<void>;
  /** Newest first, a page at a time. */
  list(query: AuditQuery): Promise<AuditPage>;
}

const DEFAULT_LIMIT = 50;
/** Queries one filtered page may spend skipping non-matching events; the cursor carries the rest. */
const MAX_QUERIES = 10;

export class StoredAuditTrail implements AuditTrail {
  constructor(
    private readonly log: AuditLog,
    private readonly cursors: CursorCodec,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  private stamp(event: AuditEvent): AuditRecord {
    const at = this.clock().toISOString();
    return { id: eventId(at), created_at: at, ...event };
  }

  private logLine(record: AuditRecord): void {
    this.logger.info('audit', { audit: record.type, ...record });
  }

  prepare(event: AuditEvent): PendingAudit {
    const record = this.stamp(event);
    return { write: this.log.write(record), committed: () => this.logLine(record) };
  }

  async record(event: AuditEvent): Promise<void> {
    const record = this.stamp(event);
    await this.log.put(record);
    this.logLine(record);
  }

  private fingerprint(q: AuditQuery): string {
    return `audit:${[...(q.types ?? [])].sort().join(',')}:${q.actor ?? ''}:${q.subject ?? ''}`;
  }

  async list(q: AuditQuery): Promise<AuditPage> {
    const fingerprint = this.fingerprint(q);
    const limit = q.limit ?? DEFAULT_LIMIT;
    let start = q.after ? this.cursors.decode(q.after, fingerprint, AuditLog.pageKeys) : undefined;
    const events: AuditRecord[] = [];
    for (let queries = 0; events.length < limit && queries < MAX_QUERIES; queries++) {
      const page = await this.log.page(limit - events.length, q, start);
      events.push(...page.records);
      start = page.lastKey;
      if (!start) break;
    }
    return { events, next_cursor: start ? this.cursors.encode(fingerprint, start) : null };
  }
}
