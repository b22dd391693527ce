/**
 * Response-time figures of a conversation, as pure functions shared by the CSV export, the analytics
 * summary and the legacy migration, so the three always agree.
 *
 * - A reply is an `agent` or `assistant` message; internal notes are never replies.
 * - First response: the first reply at or after the ticket's first customer message (or, with no customer
 *   message, at or after the ticket's creation). `first_response_seconds` = that reply - ticket creation.
 * - Response times pair each customer message that waits for an answer with the next reply: consecutive
 *   customer messages wait together from the first of them; `avg_response_seconds` is the mean of the pairs.
 */
import type { MessageType } from './model.js';

export interface TimedMessage {
  type: MessageType;
  created_at: string;
}

export const isReply = (type: MessageType) => type === 'agent' || type === 'assistant';

export const secondsBetween = (from: string, to: string) =>
  Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

const byTime = (a: TimedMessage, b: TimedMessage) => a.created_at.localeCompare(b.created_at);

/**
 * The response-time figures of a conversation read in time order, one message at a time: what the CSV export
 * folds page by page, so no conversation is ever held whole. `responseTimes` is the same fold over an array.
 */
export class ResponseTimesFold {
  private waits: number[] = [];
  private waitingSince: string | undefined;
  private firstCustomer: string | undefined;
  private from: string;
  private replyBeforeCustomer: string | undefined;
  private firstReply: string | undefined;
  /** Messages folded so far. */
  count = 0;

  constructor(private readonly createdAt: string) {
    this.from = createdAt;
  }

  /** The next message; messages must come in time order. */
  add(m: TimedMessage): void {
    this.count++;
    if (m.type === 'customer') {
      this.waitingSince ??= m.created_at;
      if (this.firstCustomer === undefined) {
        this.firstCustomer = m.created_at;
        if (m.created_at > this.from) this.from = m.created_at;
        // A reply of the same instant, read just before, still answers it.
        if (this.replyBeforeCustomer !== undefined && this.replyBeforeCustomer >= this.from) {
          this.firstReply = this.replyBeforeCustomer;
        }
      }
    } else if (isReply(m.type)) {
      if (this.waitingSince !== undefined) {
        this.waits.push(secondsBetween(this.waitingSince, m.created_at));
        this.waitingSince = undefined;
      }
      if (this.firstCustomer === undefined) {
        if (this.replyBeforeCustomer === undefined && m.created_at >= this.createdAt) {
          this.replyBeforeCustomer = m.created_at;
        }
      } else if (this.firstReply === undefined && m.created_at >= this.from) {
        this.firstReply = m.created_at;
      }
    }
  }

  result(): ResponseTimes {
    const first = this.firstCustomer === undefined ? this.replyBeforeCustomer : this.firstReply;
    const waits = this.waits;
    return {
      ...(first !== undefined && {
        first_response_at: first,
        first_response_seconds: secondsBetween(this.createdAt, first),
      }),
      ...(waits.length > 0 && { avg_response_seconds: Math.round(waits.reduce((a, b) => a + b, 0) / waits.length) }),
      responses: waits.length,
    };
  }
}

/** When the first reply was written, or undefined when nobody answered yet. */
export function firstResponseAt(createdAt: string, messages: readonly TimedMessage[]): string | undefined {
  return responseTimes(createdAt, messages).first_response_at;
}

export interface ResponseTimes {
  first_response_at?: string;
  first_response_seconds?: number;
  /** Mean of the customer -> reply waits, rounded to the second. */
  avg_response_seconds?: number;
  /** How many customer -> reply pairs the mean is made of. */
  responses: number;
}

export function responseTimes(createdAt: string, messages: readonly TimedMessage[]): ResponseTimes {
  const fold = new ResponseTimesFold(createdAt);
  for (const m of [...messages].sort(byTime)) fold.add(m);
  return fold.result();
}

/** The median (mean of the two middle values for an even count); undefined for no values. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100): the smallest value with at least p% of the values at or below it. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1] as number;
}
