/**
 * The change feed (DESIGN 3b, out 3): a cursor over the settled part of the log. An event's id is taken
 * before its transaction commits, so an event younger than the lookback window may still appear below ids
 * already visible; the feed serves only events older than that window, and its cursor (the position reached,
 * an event id or a time) therefore never skips one and never repeats one.
 */
import type { CursorCodec } from '../tickets/cursor.js';
import { feedBucket } from './ids.js';
import type { EventLog } from './log.js';
import type { EventType, TicketEvent } from './model.js';

export interface FeedQuery {
  after?: string;
  limit?: number;
  types?: EventType[];
  ticket_id?: string;
}

export interface FeedPage {
  events: TicketEvent[];
  /** Where to continue: always present, also at the end of the settled feed (continue later from it). */
  next_cursor: string;
  /** True when more settled events may follow at once; false when the reader has caught up. */
  has_more: boolean;
}

const DEFAULT_LIMIT = 50;
const DAY_MS = 86_400_000;
/** Queries one request may spend walking empty days; the cursor carries the rest to the next request. */
const MAX_QUERIES = 40;

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) + DAY_MS).toISOString().slice(0, 10);

export class ChangeFeed {
  constructor(
    private readonly log: EventLog,
    private readonly cursors: CursorCodec,
    /** Longer than a write's deadline: an id older than this belongs to a committed or abandoned write. */
    readonly lookbackMs: number,
    private readonly retentionDays: number,
    private readonly now: () => number = Date.now,
  ) {}

  private fingerprint(q: FeedQuery): string {
    return `feed:${q.ticket_id ?? ''}:${[...(q.types ?? [])].sort().join(',')}`;
  }

  async page(q: FeedQuery): Promise<FeedPage> {
    const fingerprint = this.fingerprint(q);
    const limit = q.limit ?? DEFAULT_LIMIT;
    const now = this.now();
    const oldest = new Date(now - this.retentionDays * DAY_MS).toISOString();
    let position: string = (q.after ? this.cursors.decode(q.after, fingerprint, ['p']).p : undefined) ?? oldest;
    if (position < oldest) position = oldest;
    // Settled horizon: a time string sorts below every id of its own millisecond (`<time>#...`).
    const horizon = new Date(now - this.lookbackMs).toISOString();
    const events: TicketEvent[] = [];
    for (let queries = 0; position < horizon && events.length < limit && queries < MAX_QUERIES; queries++) {
      const day = feedBucket(position);
      const dayEnd = `${day}T23:59:59.999Z~`;
      const to = q.ticket_id || dayEnd >= horizon ? horizon : dayEnd;
      const page = await this.log.range({
        ...(q.ticket_id ? { ticketId: q.ticket_id } : { day }),
        from: position,
        to,
        limit: limit - events.length,
        types: q.types,
      });
      events.push(...page.events);
      if (page.more) {
        position = page.reached ?? position;
        continue;
      }
      // The range is exhausted: continue from its end (the next day, or the horizon).
      position = to === horizon ? horizon : nextDay(day);
    }
    return { events, next_cursor: this.cursors.encode(fingerprint, { p: position }), has_more: position < horizon };
  }
}
