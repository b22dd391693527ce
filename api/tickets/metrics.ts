/**
 * Response-time figures, as pure functions shared by the CSV export, the analytics summary and the legacy
 * migration, so the three always agree.
 *
 * - First response: the first `agent` reply at or after the ticket's first customer message (or, with no
 *   customer message, at or after the ticket's creation). The assistant's automatic acknowledgement ("an agent
 *   will answer") is never a response; the assistant's real answers (smart replies, model replies) are told
 *   apart as the first assistant response. Internal notes are never replies.
 * - The service stamps both on the ticket item when the reply is stored (`first_response_at` and
 *   `first_response_seconds`; `first_assistant_response_at` and `first_assistant_response_seconds`), the
 *   seconds counted from creation with the time spent pending taken out. `ticketFirstResponse` reads them,
 *   and also the items stored before these figures existed (see docs/analytics.md).
 * - Response times pair each customer message that waits for an answer with the next agent reply: consecutive
 *   customer messages wait together from the first of them; `avg_response_seconds` is the mean of the pairs.
 */
import type { MessageType } from './model.js';

export interface TimedMessage {
  type: MessageType;
  created_at: string;
  /** An assistant message that only acknowledges (never a response); known to the service and the migration. */
  acknowledgement?: boolean;
}

export const isAgentReply = (type: MessageType) => type === 'agent';
const isAssistantAnswer = (m: TimedMessage) => m.type === 'assistant' && !m.acknowledgement;

export const secondsBetween = (from: string, to: string) =>
  Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

const byTime = (a: TimedMessage, b: TimedMessage) => a.created_at.localeCompare(b.created_at);

/**
 * The first answer of one kind: the first one at or after the first customer message, or, when the customer
 * never wrote, the first one at or after creation.
 */
class FirstAnswer {
  private before: string | undefined;
  private after: string | undefined;
  private from: string | undefined;

  constructor(private readonly createdAt: string) {}

  customer(at: string): void {
    if (this.from !== undefined) return;
    this.from = at > this.createdAt ? at : this.createdAt;
    // An answer of the same instant, read just before, still answers it.
    if (this.before !== undefined && this.before >= this.from) this.after = this.before;
  }

  answer(at: string): void {
    if (this.from === undefined) {
      if (this.before === undefined && at >= this.createdAt) this.before = at;
    } else if (this.after === undefined && at >= this.from) {
      this.after = at;
    }
  }

  get at(): string | undefined {
    return this.from === undefined ? this.before : this.after;
  }
}

/**
 * The response-time figures of a conversation read in time order, one message at a time: what the CSV export
 * folds page by page, so no conversation is ever held whole. `responseTimes` is the same fold over an array.
 */
export class ResponseTimesFold {
  private waits: number[] = [];
  private waitingSince: string | undefined;
  private readonly agent: FirstAnswer;
  private readonly assistant: FirstAnswer;
  /** Messages folded so far. */
  count = 0;

  constructor(private readonly createdAt: string) {
    this.agent = new FirstAnswer(createdAt);
    this.assistant = new FirstAnswer(createdAt);
  }

  /** The next message; messages must come in time order. */
  add(m: TimedMessage): void {
    this.count++;
    if (m.type === 'customer') {
      this.waitingSince ??= m.created_at;
      this.agent.customer(m.created_at);
      this.assistant.customer(m.created_at);
    } else if (isAgentReply(m.type)) {
      if (this.waitingSince !== undefined) {
        this.waits.push(secondsBetween(this.waitingSince, m.created_at));
        this.waitingSince = undefined;
      }
      this.agent.answer(m.created_at);
    } else if (isAssistantAnswer(m)) {
      this.assistant.answer(m.created_at);
    }
  }

  result(): ResponseTimes {
    const first = this.agent.at;
    const assistant = this.assistant.at;
    const waits = this.waits;
    return {
      ...(first !== undefined && {
        first_response_at: first,
        first_response_seconds: secondsBetween(this.createdAt, first),
      }),
      ...(assistant !== undefined && {
        first_assistant_response_at: assistant,
        first_assistant_response_seconds: secondsBetween(this.createdAt, assistant),
      }),
      ...(waits.length > 0 && { avg_response_seconds: Math.round(waits.reduce((a, b) => a + b, 0) / waits.length) }),
      responses: waits.length,
    };
  }
}

/** When an agent first replied, or undefined when no agent answered yet. */
export function firstResponseAt(createdAt: string, messages: readonly TimedMessage[]): string | undefined {
  return responseTimes(createdAt, messages).first_response_at;
}

export interface ResponseTimes {
  /** The first agent reply (the figures of a conversation without pending time: the legacy migration). */
  first_response_at?: string;
  first_response_seconds?: number;
  /** The assistant's first real answer (never the acknowledgement). */
  first_assistant_response_at?: string;
  first_assistant_response_seconds?: number;
  /** Mean of the customer -> agent reply waits, rounded to the second. */
  avg_response_seconds?: number;
  /** How many customer -> agent reply pairs the mean is made of. */
  responses: number;
}

export function responseTimes(createdAt: string, messages: readonly TimedMessage[]): ResponseTimes {
  const fold = new ResponseTimesFold(createdAt);
  for (const m of [...messages].sort(byTime)) fold.add(m);
  return fold.result();
}

/** What the ticket item keeps of its response times (see the module comment). */
export interface StoredResponseTimes {
  created_at: string;
  first_response_seconds?: number;
  agent_replied_at?: string;
  first_assistant_response_at?: string;
  first_assistant_response_seconds?: number;
}

/** Attributes a reader of `ticketResponseTimes` must fetch from the ticket item. */
export const RESPONSE_TIME_ATTRIBUTES = [
  'created_at',
  'first_response_seconds',
  'agent_replied_at',
  'first_assistant_response_at',
  'first_assistant_response_seconds',
] as const;

/**
 * The ticket's first agent response and first assistant answer, in seconds, pending time excluded. Items
 * stored before these figures existed have no `first_response_seconds`: their `agent_replied_at` is the first
 * agent reply (no ticket could be pending then, so nothing is to subtract), and their `first_response_at`,
 * which the assistant's acknowledgement may have stamped, is never read.
 */
export function ticketResponseTimes(t: StoredResponseTimes): { agent?: number; assistant?: number } {
  const agent =
    typeof t.first_response_seconds === 'number'
      ? t.first_response_seconds
      : t.agent_replied_at
        ? secondsBetween(t.created_at, t.agent_replied_at)
        : undefined;
  const assistant =
    typeof t.first_assistant_response_seconds === 'number'
      ? t.first_assistant_response_seconds
      : t.first_assistant_response_at
        ? secondsBetween(t.created_at, t.first_assistant_response_at)
        : undefined;
  return { ...(agent !== undefined && { agent }), ...(assistant !== undefined && { assistant }) };
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
