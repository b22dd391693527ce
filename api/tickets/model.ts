/**
 * The ticket vocabulary and the shapes the API accepts and returns. These zod schemas validate requests
 * and generate the OpenAPI document, so the contract and the checks cannot disagree.
 */
import { z } from 'zod';

/** Page size of a ticket list when the query gives none. */
export const DEFAULT_PAGE_SIZE = 25;

/** `pending`: waiting for the customer (an agent sets it; the customer's next message ends it). */
export const STATUSES = ['new', 'in_progress', 'pending', 'closed'] as const;
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export const CHANNELS = ['chat', 'email', 'phone', 'whatsapp', 'sms'] as const;
export const MESSAGE_TYPES = ['customer', 'assistant', 'agent', 'internal'] as const;
export const SENTIMENTS = ['positive', 'neutral', 'negative'] as const;
export const CATEGORIES = ['billing', 'technical', 'sales', 'cancellation', 'other'] as const;
export const URGENCIES = ['low', 'medium', 'high'] as const;

export type Status = (typeof STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];
export type Channel = (typeof CHANNELS)[number];
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const Status = z.enum(STATUSES).meta({ id: 'Status' });
export const Priority = z.enum(PRIORITIES).meta({ id: 'Priority' });
export const Channel = z.enum(CHANNELS).meta({ id: 'Channel' });
export const MessageType = z.enum(MESSAGE_TYPES).meta({ id: 'MessageType' });

/** New ids: `FRE-` + 8 characters of Crockford base32; legacy ids (UUIDs, `FRE-` + 8 hex) stay valid. */
export const TICKET_ID_PATTERN = /^(FRE-[0-9A-Z]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
export const TicketId = z.string().regex(TICKET_ID_PATTERN, 'not a ticket id').meta({ example: 'FRE-7K3M9QXD' });

export const Email = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());
export const Timestamp = z.iso
  .datetime()
  .meta({ description: 'ISO 8601 UTC with milliseconds', example: '2026-11-24T10:15:30.000Z' });

export const Analytics = z
  .object({
    sentiment: z.enum(SENTIMENTS),
    category: z.enum(CATEGORIES),
    urgency: z.enum(URGENCIES),
    churn_risk: z.number().int().min(0).max(100),
    summary: z.string(),
    next_action: z.string(),
    analyzed_at: Timestamp,
    alert: z.literal('urgent_retention').optional(),
  })
  .meta({ id: 'Analytics' });
export type Analytics = z.infer<typeof Analytics>;

export const Message = z
  .object({
    message_id: z.string(),
    type: MessageType,
    content: z.string(),
    author_name: z.string(),
    author_email: z.string().optional(),
    created_at: Timestamp,
  })
  .meta({ id: 'Message' });
export type Message = z.infer<typeof Message>;

/** What an agent or tool sees: everything but credentials and storage internals. */
export const Ticket = z
  .object({
    ticket_id: TicketId,
    status: Status,
    priority: Priority,
    channel: Channel,
    customer_name: z.string().optional(),
    customer_email: z.string().optional(),
    customer_phone: z.string().optional().meta({ description: 'E.164-like: `+` and digits', example: '+33612345678' }),
    customer_external_id: z
      .string()
      .optional()
      .meta({ description: "The customer's id in the channel a bridge connects (a messaging account...)" }),
    assigned_to: z.string().optional(),
    tags: z.array(z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
    waiting_since: Timestamp.optional().meta({
      description: 'The oldest customer message no agent reply has answered yet; absent when nothing waits',
    }),
    closed_at: Timestamp.optional(),
    resolution_seconds: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Creation to closing, time spent pending excluded' }),
    pending_since: Timestamp.optional().meta({ description: 'Present while the ticket is pending: since when' }),
    pending_seconds: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Time spent pending in earlier pending periods (the current one is not included)' }),
    analytics: Analytics.optional(),
    version: z.number().int(),
  })
  .meta({ id: 'Ticket' });
export type Ticket = z.infer<typeof Ticket>;

const MessagesNextCursor = z.string().nullable().meta({
  description:
    'The conversation carries its first page only: pass this cursor to the messages route for the next one (null: no more)',
});

export const TicketWithMessages = Ticket.extend({
  messages: z.array(Message).meta({ description: 'The first page of the conversation, oldest first' }),
  messages_next_cursor: MessagesNextCursor,
}).meta({ id: 'TicketWithMessages' });
export type TicketWithMessages = z.infer<typeof TicketWithMessages>;

/** What the customer sees: no internal notes, no analytics, no agent e-mail, no assignment. */
export const PublicMessage = Message.omit({ author_email: true }).meta({ id: 'PublicMessage' });
export const PublicTicket = z
  .object({
    ticket_id: TicketId,
    status: Status,
    channel: Channel,
    customer_name: z.string().optional(),
    created_at: Timestamp,
    updated_at: Timestamp,
    closed_at: Timestamp.optional(),
    messages: z.array(PublicMessage).meta({ description: 'The first page of the conversation, oldest first' }),
    messages_next_cursor: MessagesNextCursor,
  })
  .meta({ id: 'PublicTicket' });
export type PublicTicket = z.infer<typeof PublicTicket>;

/** A text that is not only white space; stored trimmed. */
export const NonBlank = (max: number) =>
  z
    .string()
    .regex(/\S/, 'must not be blank')
    .trim()
    .max(max, `at most ${max} characters`)
    .meta({ description: `Not blank; surrounding white space is removed; at most ${max} characters` });

const content = NonBlank(10_000);
const TAG_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const tag = z.string().regex(TAG_PATTERN, 'tags are 1-32 lowercase letters, digits, "-" or "_"');

export const CreatePublicTicket = z
  .strictObject({
    message: content,
    customer_name: NonBlank(200).optional(),
    customer_email: Email.optional(),
    channel: Channel.default('chat'),
  })
  .meta({ id: 'CreatePublicTicket' });
export type CreatePublicTicket = z.infer<typeof CreatePublicTicket>;

export const NewCustomerMessage = z.strictObject({ content }).meta({ id: 'NewCustomerMessage' });
export const NewAgentMessage = z
  .strictObject({
    content: content.optional(),
    canned_response_id: z.string().max(64).optional().meta({
      description: 'Send this canned response (placeholders filled) instead of `content`',
      example: 'cr_3f9a1c0b7d2e4f60',
    }),
    internal: z.boolean().default(false),
  })
  .refine((m) => (m.content === undefined) !== (m.canned_response_id === undefined), {
    message: 'give either content or canned_response_id (exactly one)',
  })
  .meta({ id: 'NewAgentMessage', description: 'Exactly one of `content` and `canned_response_id`' });

export const TicketPatch = z
  .strictObject({
    status: Status.optional(),
    priority: Priority.optional(),
    assigned_to: Email.nullable().optional().meta({ description: 'an agent e-mail, or null to unassign' }),
    tags: z.array(tag).max(20).optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), 'give at least one field to change')
  .meta({ id: 'TicketPatch', minProperties: 1, description: 'At least one field to change' });
export type TicketPatch = z.infer<typeof TicketPatch>;

/** A date-time with any offset (or a plain date, read as UTC midnight), normalised to UTC `Z` with milliseconds. */
const QueryTimestamp = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .transform((s) => new Date(s.length === 10 ? `${s}T00:00:00Z` : s).toISOString());

/** Query strings arrive as strings: a page size is digits only, so `limit=abc` or `1e2` is a 400, never a default. */
const PageLimit = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'limit is a whole number from 1 to 100' })
    .int('limit is a whole number from 1 to 100')
    .min(1, 'limit is at least 1')
    .max(100, 'limit is at most 100'),
);
export const PageSize = PageLimit.default(DEFAULT_PAGE_SIZE).meta({ description: 'Tickets per page' });

const RANGE_NOTE = 'created_from must not be after created_to (400 otherwise)';
/** The creation range of list, export and summary queries. */
export const CreatedFrom = QueryTimestamp.meta({
  description: `Tickets created at or after this instant (date-time with offset, or a date: UTC midnight). ${RANGE_NOTE}.`,
});
export const CreatedTo = QueryTimestamp.meta({
  description: `Tickets created at or before this instant (date-time with offset, or a date: UTC midnight). ${RANGE_NOTE}.`,
});

const UpdatedFrom = QueryTimestamp.meta({
  description:
    'Tickets last changed at or after this instant (date-time with offset, or a date: UTC midnight); lists newest change first. updated_from must not be after updated_to.',
});
const UpdatedTo = QueryTimestamp.meta({
  description:
    'Tickets last changed at or before this instant (date-time with offset, or a date: UTC midnight); lists newest change first.',
});

export const LIST_SORTS = ['created', 'updated', 'waiting'] as const;

/**
 * The ticket list's filters. Each supported combination is one index Query (docs/data.md); any other answers
 * 400 `unsupported_filter`, never a Scan.
 */
export const ListQuery = z
  .strictObject({
    status: Status.optional(),
    channel: Channel.optional(),
    assigned_to: z
      .union([z.literal('none'), Email])
      .optional()
      .meta({ description: 'The assignee e-mail, or `none` for unassigned tickets' }),
    priority: Priority.optional(),
    tag: tag.optional().meta({ description: 'Tickets carrying this tag' }),
    customer: z.string().trim().min(1, 'customer must not be blank').max(254).optional().meta({
      description:
        "A customer's tickets, found by any of their identities: external id, e-mail (any case) or phone (any punctuation)",
    }),
    sort: z.enum(LIST_SORTS).optional().meta({
      description:
        '`created`: newest created first (default); `updated`: newest change first (the default with updated_from/updated_to); `waiting`: oldest unanswered customer message first, waiting tickets only',
    }),
    created_from: CreatedFrom.optional(),
    created_to: CreatedTo.optional(),
    updated_from: UpdatedFrom.optional(),
    updated_to: UpdatedTo.optional(),
    limit: PageSize,
    cursor: z
      .string()
      .max(2048)
      .optional()
      .meta({ description: 'The next_cursor of the previous page, with the same filters' }),
  })
  .refine((q) => !q.created_from || !q.created_to || q.created_from <= q.created_to, {
    message: 'created_from must not be after created_to',
    path: ['created_from'],
  })
  .refine((q) => !q.updated_from || !q.updated_to || q.updated_from <= q.updated_to, {
    message: 'updated_from must not be after updated_to',
    path: ['updated_from'],
  });
export type ListQuery = z.infer<typeof ListQuery>;

export const TicketPage = z
  .object({
    items: z.array(Ticket),
    next_cursor: z.string().nullable().meta({ description: 'The cursor of the next page; null on the last page' }),
  })
  .meta({ id: 'TicketPage' });
export type TicketPage = z.infer<typeof TicketPage>;

/** A page of a conversation or of a history: `limit` (1-100) and the `cursor` of the previous page. */
export const PageQuery = z.strictObject({
  limit: PageLimit.optional().meta({ description: 'Items per page (default 50)' }),
  cursor: z.string().max(2048).optional().meta({ description: 'The next_cursor of the previous page' }),
});
export type PageQuery = z.infer<typeof PageQuery>;

export const MessagePage = z
  .object({
    items: z.array(Message).meta({ description: 'Oldest first' }),
    next_cursor: z.string().nullable().meta({ description: 'null: the end of the conversation' }),
  })
  .meta({ id: 'MessagePage' });
export type MessagePage = z.infer<typeof MessagePage>;

export const PublicMessagePage = z
  .object({
    items: z.array(PublicMessage).meta({ description: 'Oldest first' }),
    next_cursor: z.string().nullable().meta({ description: 'null: the end of the conversation' }),
  })
  .meta({ id: 'PublicMessagePage' });
export type PublicMessagePage = z.infer<typeof PublicMessagePage>;
