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

/** When the first reply was written, or undefined when nobody answered yet. */
export function firstResponseAt(createdAt: string, messages: readonly TimedMessage[]): string | undefined {
  const sorted = [...messages].sort(byTime);
  const firstCustomer = sorted.find((m) => m.type === 'customer');
  const from = firstCustomer && firstCustomer.created_at > createdAt ? firstCustomer.created_at : createdAt;
  return sorted.find((m) => isReply(m.type) && m.created_at >= from)?.created_at;
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
  const sorted = [...messages].sort(byTime);
  const waits: number[] = [];
  let waitingSince: string | undefined;
  for (const m of sorted) {
    if (m.type === 'customer') waitingSince ??= m.created_at;
    else if (isReply(m.type) && waitingSince !== undefined) {
      waits.push(secondsBetween(waitingSince, m.created_at));
      waitingSince = undefined;
    }
  }
  const first = firstResponseAt(createdAt, sorted);
  return {
    ...(first !== undefined && { first_response_at: first, first_response_seconds: secondsBetween(createdAt, first) }),
    ...(waits.length > 0 && { avg_response_seconds: Math.round(waits.reduce((a, b) => a + b, 0) / waits.length) }),
    responses: waits.length,
  };
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
