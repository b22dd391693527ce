/**
 * The live side of the log (DESIGN 3b, out 2): one poller per task for all its open streams. While any
 * stream is open it Queries the feed every `pollMs`, re-reading the lookback window (an event's id is taken
 * before its transaction commits, so a late commit can land below ids already seen) and dropping ids it has
 * seen; with no stream open it reads nothing. The same loop asks each stream, at most every `recheckMs`,
 * whether its reader still holds the credential that opened it, and ends the streams whose reader no longer
 * does (a stream is held open for hours; a deactivated user or a revoked key must not keep receiving events).
 */
import { feedBucket } from './ids.js';
import type { EventLog } from './log.js';
import type { TicketEvent } from './model.js';

export interface Subscriber {
  /** Events with an id below this are older than the stream (its replay from the log covers them). */
  since: string;
  deliver(event: TicketEvent): void;
  /** The service is stopping, or the reader lost its access: end the stream now. */
  end(): void;
  /**
   * Whether the reader still holds its credential (asked every `recheckMs` at most, never per event; a
   * rejection keeps the stream and asks again next time). False ends the stream.
   */
  holds?(): Promise<boolean>;
}

/** When a subscriber's credential was last confirmed, and whether a check is on its way. */
interface Check {
  at: number;
  running: boolean;
}

const PAGE = 100;

export class EventHub {
  private readonly subscribers = new Map<Subscriber, Check>();
  /** Credential checks under way, awaited at shutdown. */
  private readonly checks = new Set<Promise<void>>();
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  /** Feed Queries sent, for the benchmark of what an idle task costs. */
  queries = 0;

  constructor(
    private readonly log: EventLog,
    private readonly lookbackMs: number,
    private readonly pollMs: number,
    private readonly recheckMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.subscribers.size;
  }

  subscribe(subscriber: Subscriber): () => void {
    if (this.closed) {
      subscriber.end();
      return () => {};
    }
    // It was checked when it opened.
    this.subscribers.set(subscriber, { at: this.now(), running: false });
    this.schedule(0);
    return () => {
      this.subscribers.delete(subscriber);
    };
  }

  /**
   * Every event with `from < id`, read from the log (a reconnecting stream's replay), in id order: of one
   * ticket from its own partition, else day by day from the feed index.
   */
  async *since(from: string, ticketId?: string): AsyncGenerator<TicketEvent> {
    let position = from;
    const end = `${new Date(this.now() + 60_000).toISOString()}`;
    while (ticketId && position < end) {
      const page = await this.log.range({ ticketId, from: position, to: end, limit: PAGE });
      this.queries++;
      for (const event of page.events) yield event;
      if (!page.more) return;
      position = page.reached ?? end;
    }
    while (position < end) {
      const day = feedBucket(position);
      const dayEnd = `${day}T23:59:59.999Z~`;
      const to = dayEnd < end ? dayEnd : end;
      const page = await this.log.range({ day, from: position, to, limit: PAGE });
      this.queries++;
      for (const event of page.events) yield event;
      if (page.more) position = page.reached ?? position;
      else
        position =
          to === end ? end : new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10);
    }
  }

  /** Ends every stream at once and stops polling (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const s of [...this.subscribers.keys()]) s.end();
    this.subscribers.clear();
    await Promise.all([this.polling, ...this.checks]);
  }

  private schedule(delay: number): void {
    if (this.timer || this.polling || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.polling = this.poll()
        .catch(this.onError)
        .finally(() => {
          this.polling = undefined;
          if (this.subscribers.size > 0) this.schedule(this.pollMs);
          else this.seen.clear();
        });
    }, delay);
    this.timer.unref();
  }

  /**
   * Starts the credential check of every stream last confirmed `recheckMs` ago or more. Delivery does not wait
   * for them: a check that ends a stream removes it before its next poll.
   */
  private recheck(): void {
    const due = this.now() - this.recheckMs;
    for (const [subscriber, check] of this.subscribers) {
      if (!subscriber.holds || check.running || check.at > due) continue;
      check.running = true;
      const done: Promise<void> = subscriber
        .holds()
        .then((holds) => {
          if (holds || !this.subscribers.has(subscriber)) return;
          this.subscribers.delete(subscriber);
          subscriber.end();
        })
        .catch(this.onError)
        .finally(() => {
          // A failed check (DynamoDB unavailable) is tried again a period later, not at every poll.
          check.at = this.now();
          check.running = false;
          this.checks.delete(done);
        });
      this.checks.add(done);
    }
  }

  private async poll(): Promise<void> {
    this.recheck();
    const windowStart = new Date(this.now() - this.lookbackMs).toISOString();
    const fresh: TicketEvent[] = [];
    for await (const event of this.since(windowStart)) {
      if (this.seen.has(event.id)) continue;
      this.seen.add(event.id);
      fresh.push(event);
    }
    // Ids below the window can no longer come back: forget them.
    for (const id of this.seen) if (id < windowStart) this.seen.delete(id);
    for (const event of fresh) {
      for (const s of this.subscribers.keys()) if (event.id >= s.since) s.deliver(event);
    }
  }
}
