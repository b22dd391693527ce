/**
 * Legacy JSON store record -> the items of the tickets table (a ticket item and one item per message), or
 * the reasons it cannot be migrated. Pure: no I/O. The whole record, messages included, is checked before
 * anything is produced, so a record is either migrated completely or not at all.
 */

import { isAcknowledgement } from '../../api/assistant/persona.js';
import { TICKET_SK } from '../../api/db/tables.js';
import { responseTimes, secondsBetween } from '../../api/tickets/metrics.js';
import {
  type Analytics,
  CATEGORIES,
  CHANNELS,
  type Channel,
  type MessageType,
  type Priority,
  SENTIMENTS,
  type Status,
  TICKET_ID_PATTERN,
  URGENCIES,
} from '../../api/tickets/model.js';
import { type MessageItem, messageSortKey, type TicketItem, TicketRepository } from '../../api/tickets/repository.js';

/** Marks the ticket items the migration wrote; it never overwrites an item without it. */
export const MIGRATION_MARK = { migrated_from: 'legacy-json' } as const;

export interface NormalisedRecord {
  ticket: TicketItem;
  messages: MessageItem[];
  /** Legacy fields that have no place in the new model (counted in the report). */
  dropped: string[];
  /** Values the migration had to decide (reported, not fatal). */
  warnings: string[];
}

export type Normalised = { ok: true; record: NormalisedRecord } | { ok: false; ticketId?: string; reasons: string[] };

const STATUS: Record<string, Status> = {
  nouveau: 'new',
  new: 'new',
  'en cours': 'in_progress',
  en_cours: 'in_progress',
  in_progress: 'in_progress',
  fermé: 'closed',
  ferme: 'closed',
  closed: 'closed',
  // The current vocabulary's own value (the legacy service had no pending status).
  pending: 'pending',
};
const PRIORITY: Record<string, Priority> = {
  basse: 'low',
  low: 'low',
  normale: 'normal',
  normal: 'normal',
  haute: 'high',
  high: 'high',
  urgente: 'urgent',
  urgent: 'urgent',
};
const CHANNEL: Record<string, Channel> = {
  ...Object.fromEntries(CHANNELS.map((c) => [c, c])),
  telephone: 'phone',
  téléphone: 'phone',
  'e-mail': 'email',
  mail: 'email',
};
const SENTIMENT: Record<string, Analytics['sentiment']> = {
  ...Object.fromEntries(SENTIMENTS.map((s) => [s, s])),
  positif: 'positive',
  neutre: 'neutral',
  negatif: 'negative',
  négatif: 'negative',
};
const CATEGORY: Record<string, Analytics['category']> = {
  ...Object.fromEntries(CATEGORIES.map((c) => [c, c])),
  facturation: 'billing',
  technique: 'technical',
  commercial: 'sales',
  resiliation: 'cancellation',
  résiliation: 'cancellation',
  autre: 'other',
};
const URGENCY: Record<string, Analytics['urgency']> = {
  ...Object.fromEntries(URGENCIES.map((u) => [u, u])),
  basse: 'low',
  moyenne: 'medium',
  normale: 'medium',
  haute: 'high',
};
/** Current message shape: `type`; legacy shape: `role`. */
const MESSAGE_TYPE: Record<string, MessageType> = {
  client: 'customer',
  customer: 'customer',
  user: 'customer',
  assistant: 'assistant',
  agent: 'agent',
  internal: 'internal',
};
const DEFAULT_AUTHOR: Record<MessageType, string> = {
  customer: 'Customer',
  assistant: 'Assistant',
  agent: 'Agent',
  internal: 'Agent',
};

/** Fields carried over (possibly renamed); anything else on a ticket is reported as dropped. */
const TICKET_FIELDS = new Set([
  'ticket_id',
  'status',
  'priority',
  'channel',
  'customer_name',
  'customer_email',
  'assigned_to',
  'created_at',
  'updated_at',
  'closed_at',
  'resolution_duration',
  'resolution_time_seconds',
  'resolution_seconds',
  'analytics',
  'messages',
  'tags',
]);
const MESSAGE_FIELDS = new Set([
  'message_id',
  'id',
  'type',
  'role',
  'content',
  'author',
  'author_name',
  'author_email',
  'timestamp',
  'created_at',
  'internal',
]);

/** Far below DynamoDB's 400 KB item limit, with room for the other attributes. */
const MAX_MESSAGE_BYTES = 300_000;

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * ISO 8601 -> UTC with milliseconds and `Z`. Naive timestamps (the legacy public API wrote them) are UTC,
 * which is what the legacy server's clock was. Microseconds are truncated, so order is kept.
 */
export function normaliseTimestamp(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', frac = '', zone = 'Z'] = m;
  const ms = frac.padEnd(3, '0').slice(0, 3);
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const parsed = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}${offset}`);
  if (Number.isNaN(parsed.getTime())) return undefined;
  // Date accepts 2025-02-30 and rolls it over; a calendar-impossible date is not a timestamp.
  const local = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
  if (local.getUTCDate() !== Number(d) || local.getUTCMonth() + 1 !== Number(mo)) return undefined;
  return parsed.toISOString();
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const key = (v: unknown) => (typeof v === 'string' ? v.trim().toLowerCase() : undefined);
const optionalString = (v: unknown) => v === undefined || v === null || typeof v === 'string';

function normaliseAnalytics(raw: unknown, fallbackAt: string, problems: string[], warnings: string[]) {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) {
    problems.push('analytics is not an object');
    return undefined;
  }
  const sentiment = SENTIMENT[key(raw.sentiment) ?? ''];
  const category = CATEGORY[key(raw.category) ?? ''];
  const urgency = URGENCY[key(raw.urgency) ?? ''];
  if (!sentiment) problems.push(`analytics.sentiment ${JSON.stringify(raw.sentiment)} is not a known sentiment`);
  if (!category) problems.push(`analytics.category ${JSON.stringify(raw.category)} is not a known category`);
  if (!urgency) problems.push(`analytics.urgency ${JSON.stringify(raw.urgency)} is not a known urgency`);
  let churn = 0;
  if (raw.churn_risk === undefined || raw.churn_risk === null) {
    warnings.push('analytics.churn_risk missing: set to 0 (the legacy default)');
  } else if (typeof raw.churn_risk === 'number' && Number.isFinite(raw.churn_risk)) {
    churn = Math.min(100, Math.max(0, Math.round(raw.churn_risk)));
  } else {
    problems.push(`analytics.churn_risk ${JSON.stringify(raw.churn_risk)} is not a number`);
  }
  for (const f of ['summary', 'next_action'] as const) {
    if (!optionalString(raw[f])) problems.push(`analytics.${f} is not a string`);
  }
  let analyzedAt = fallbackAt;
  if (raw.analyzed_at !== undefined && raw.analyzed_at !== null) {
    const at = normaliseTimestamp(raw.analyzed_at);
    if (at) analyzedAt = at;
    else problems.push(`analytics.analyzed_at ${JSON.stringify(raw.analyzed_at)} is not a timestamp`);
  } else {
    warnings.push('analytics.analyzed_at missing: set to the ticket creation time');
  }
  if (raw.alert !== undefined && raw.alert !== null && key(raw.alert) !== 'urgent_retention') {
    problems.push(`analytics.alert ${JSON.stringify(raw.alert)} is not a known alert`);
  }
  if (!sentiment || !category || !urgency) return undefined;
  const analytics: Analytics = {
    sentiment,
    category,
    urgency,
    churn_risk: churn,
    summary: typeof raw.summary === 'string' ? raw.summary : '',
    next_action: typeof raw.next_action === 'string' ? raw.next_action : '',
    analyzed_at: analyzedAt,
    // The alert follows the rule (churn risk > 80), whatever the legacy record said.
    ...(churn > 80 && { alert: 'urgent_retention' as const }),
  };
  return analytics;
}

function normaliseMessage(
  raw: unknown,
  n: number,
  ticketId: string,
  customerName: string | undefined,
  problems: string[],
  dropped: Set<string>,
): MessageItem | undefined {
  const where = `messages[${n}]`;
  if (!isObject(raw)) {
    problems.push(`${where} is not an object`);
    return undefined;
  }
  for (const f of Object.keys(raw)) if (!MESSAGE_FIELDS.has(f)) dropped.add(`messages.${f}`);
  const before = problems.length;
  const id = raw.message_id ?? raw.id;
  if (typeof id !== 'string' || id.trim() === '') problems.push(`${where} has no message id (message_id or id)`);
  const rawType = raw.type ?? raw.role;
  let type = MESSAGE_TYPE[key(rawType) ?? ''];
  if (!type) problems.push(`${where}.type ${JSON.stringify(rawType)} is not a known message type or role`);
  // An agent message flagged internal is an internal note: it must stay hidden from the customer.
  if (type === 'agent' && raw.internal === true) type = 'internal';
  if (typeof raw.content !== 'string') problems.push(`${where}.content is not a string`);
  else if (Buffer.byteLength(raw.content) > MAX_MESSAGE_BYTES) problems.push(`${where}.content is too large`);
  const at = normaliseTimestamp(raw.timestamp ?? raw.created_at);
  if (!at) problems.push(`${where}.timestamp ${JSON.stringify(raw.timestamp ?? raw.created_at)} is not a timestamp`);
  const author = raw.author ?? raw.author_name;
  if (!optionalString(author)) problems.push(`${where}.author is not a string`);
  if (!optionalString(raw.author_email)) problems.push(`${where}.author_email is not a string`);
  if (problems.length > before || !type || !at) return undefined;

  const messageId = (id as string).trim();
  const authorName =
    typeof author === 'string' && author.trim() !== ''
      ? author
      : type === 'customer'
        ? (customerName ?? DEFAULT_AUTHOR.customer)
        : DEFAULT_AUTHOR[type];
  return {
    ticket_id: ticketId,
    sk: messageSortKey(at, messageId),
    message_id: messageId,
    type,
    content: raw.content as string,
    author_name: authorName,
    ...(typeof raw.author_email === 'string' && raw.author_email !== '' && { author_email: raw.author_email }),
    created_at: at,
  };
}

/** `key` is the record's key in the legacy store (the store is an object keyed by ticket id). */
export function normaliseRecord(raw: unknown, key_?: string): Normalised {
  if (!isObject(raw)) return { ok: false, ticketId: key_, reasons: ['record is not an object'] };
  const problems: string[] = [];
  const warnings: string[] = [];
  const dropped = new Set<string>();

  let ticketId: string | undefined;
  if (raw.ticket_id === undefined || raw.ticket_id === null || raw.ticket_id === '') {
    problems.push('record has no ticket_id');
  } else if (typeof raw.ticket_id !== 'string') {
    problems.push(`ticket_id ${JSON.stringify(raw.ticket_id)} is not a string`);
  } else {
    // UUIDs are case-insensitive; the API addresses them in lower case.
    ticketId = /^[0-9a-f-]{36}$/i.test(raw.ticket_id) ? raw.ticket_id.toLowerCase() : raw.ticket_id;
    if (!TICKET_ID_PATTERN.test(ticketId))
      problems.push(`ticket_id ${JSON.stringify(raw.ticket_id)} is not a ticket id`);
    else if (key_ !== undefined && key_.toLowerCase() !== ticketId.toLowerCase()) {
      problems.push(`ticket_id ${JSON.stringify(raw.ticket_id)} differs from its key ${JSON.stringify(key_)}`);
    }
  }
  const id = ticketId ?? key_;

  const status = STATUS[key(raw.status) ?? ''];
  if (!status) problems.push(`status ${JSON.stringify(raw.status)} is not a known status`);

  let priority: Priority = 'normal';
  if (raw.priority !== undefined && raw.priority !== null) {
    const p = PRIORITY[key(raw.priority) ?? ''];
    if (p) priority = p;
    else problems.push(`priority ${JSON.stringify(raw.priority)} is not a known priority`);
  }

  let channel: Channel = 'chat';
  if (raw.channel === undefined || raw.channel === null || raw.channel === '') {
    warnings.push('channel missing: set to chat');
  } else {
    const c = CHANNEL[key(raw.channel) ?? ''];
    if (c) channel = c;
    else problems.push(`channel ${JSON.stringify(raw.channel)} is not a known channel`);
  }

  const createdAt = normaliseTimestamp(raw.created_at);
  if (!createdAt) problems.push(`created_at ${JSON.stringify(raw.created_at)} is not a timestamp`);

  for (const f of ['customer_name', 'customer_email', 'assigned_to'] as const) {
    if (!optionalString(raw[f])) problems.push(`${f} is not a string`);
  }
  if (raw.tags !== undefined && raw.tags !== null) {
    if (!Array.isArray(raw.tags) || raw.tags.some((t) => typeof t !== 'string')) problems.push('tags is not a list');
  }

  let closedAt: string | undefined;
  if (raw.closed_at !== undefined && raw.closed_at !== null) {
    closedAt = normaliseTimestamp(raw.closed_at);
    if (!closedAt) problems.push(`closed_at ${JSON.stringify(raw.closed_at)} is not a timestamp`);
  }
  let updatedAt: string | undefined;
  if (raw.updated_at !== undefined && raw.updated_at !== null) {
    updatedAt = normaliseTimestamp(raw.updated_at);
    if (!updatedAt) problems.push(`updated_at ${JSON.stringify(raw.updated_at)} is not a timestamp`);
  }
  // Two legacy names for the same figure (public close vs private PATCH).
  const rawResolution = raw.resolution_seconds ?? raw.resolution_duration ?? raw.resolution_time_seconds;
  if (rawResolution !== undefined && rawResolution !== null) {
    if (typeof rawResolution !== 'number' || !Number.isFinite(rawResolution) || rawResolution < 0) {
      problems.push(`resolution duration ${JSON.stringify(rawResolution)} is not a number of seconds`);
    }
  }

  const customerName = typeof raw.customer_name === 'string' ? raw.customer_name : undefined;
  const messages: MessageItem[] = [];
  if (raw.messages !== undefined && raw.messages !== null && !Array.isArray(raw.messages)) {
    problems.push('messages is not a list');
  } else if (id) {
    const seen = new Set<string>();
    (raw.messages as unknown[] | undefined)?.forEach((m, n) => {
      const message = normaliseMessage(m, n, id, customerName, problems, dropped);
      if (!message) return;
      if (seen.has(message.message_id)) problems.push(`messages[${n}] repeats message id ${message.message_id}`);
      seen.add(message.message_id);
      messages.push(message);
    });
  }

  const analytics = createdAt ? normaliseAnalytics(raw.analytics, createdAt, problems, warnings) : undefined;
  for (const f of Object.keys(raw)) if (!TICKET_FIELDS.has(f)) dropped.add(f);

  if (problems.length > 0 || !ticketId || !status || !createdAt) return { ok: false, ticketId: id, reasons: problems };

  let resolutionSeconds: number | undefined;
  if (status === 'closed') {
    if (closedAt) {
      resolutionSeconds =
        typeof rawResolution === 'number' ? Math.round(rawResolution) : secondsBetween(createdAt, closedAt);
    } else {
      warnings.push('closed without closed_at: closed_at and resolution_seconds left empty');
    }
  } else if (closedAt || (rawResolution !== undefined && rawResolution !== null)) {
    // The legacy private PATCH reopened tickets without clearing these (a known bug).
    warnings.push(`status ${status}: stale closed_at/resolution dropped`);
    closedAt = undefined;
  }

  messages.sort((a, b) => a.sk.localeCompare(b.sk));
  const lastMessageAt = messages.at(-1)?.created_at;
  const latest = [createdAt, updatedAt, closedAt, lastMessageAt].filter((t): t is string => !!t).sort();
  // No legacy ticket was ever pending: the first responses are plain times from creation.
  const times = responseTimes(
    createdAt,
    messages.map((m) => ({
      type: m.type,
      created_at: m.created_at,
      acknowledgement: m.type === 'assistant' && isAcknowledgement(m.content),
    })),
  );
  const tags =
    Array.isArray(raw.tags) && raw.tags.length > 0 ? [...new Set(raw.tags as string[])].sort() : ([] as string[]);
  const assignedTo = typeof raw.assigned_to === 'string' && raw.assigned_to.trim() !== '' ? raw.assigned_to.trim() : '';

  // The unanswered end of the conversation: the oldest customer message after the last agent reply.
  let waitingSince: string | undefined;
  if (status !== 'closed') {
    for (let n = messages.length - 1; n >= 0 && messages[n]?.type !== 'agent'; n--) {
      if (messages[n]?.type === 'customer') waitingSince = messages[n]?.created_at;
    }
  }
  const ticket: TicketItem = TicketRepository.withIndexAttributes({
    ticket_id: ticketId,
    sk: TICKET_SK,
    status,
    priority,
    channel,
    ...(customerName !== undefined && { customer_name: customerName }),
    ...(typeof raw.customer_email === 'string' &&
      raw.customer_email !== '' && { customer_email: raw.customer_email.toLowerCase() }),
    // Agent e-mails are matched in lower case by the assignee filter.
    ...(assignedTo && { assigned_to: assignedTo.includes('@') ? assignedTo.toLowerCase() : assignedTo }),
    tags,
    created_at: createdAt,
    updated_at: latest.at(-1) as string,
    ...(waitingSince && { waiting_since: waitingSince }),
    ...(closedAt && { closed_at: closedAt }),
    ...(resolutionSeconds !== undefined && { resolution_seconds: resolutionSeconds }),
    ...(analytics && { analytics }),
    ...(times.first_response_at !== undefined && {
      first_response_at: times.first_response_at,
      first_response_seconds: times.first_response_seconds,
      agent_replied_at: times.first_response_at,
    }),
    ...(times.first_assistant_response_at !== undefined && {
      first_assistant_response_at: times.first_assistant_response_at,
      first_assistant_response_seconds: times.first_assistant_response_seconds,
    }),
    version: 1,
    ...MIGRATION_MARK,
  });
  return { ok: true, record: { ticket, messages, dropped: [...dropped].sort(), warnings } };
}
