/**
 * The events of the log (DESIGN 3b): what happened to a ticket, one event per change, written in the change's
 * own transaction. The zod schemas document the history and feed responses.
 */
import { z } from 'zod';
import { TICKET_ID_PATTERN } from '../tickets/model.js';
import { eventId } from './ids.js';

export const EVENT_TYPES = [
  'ticket.created',
  'message.created',
  'ticket.updated',
  'ticket.reopened',
  'ticket.deleted',
  'ticket.analyzed',
  'churn.alert',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Who made the change: `customer`, `assistant`, `system` (the analysis), or a principal id (agent, API key). */
export type Actor = string;

/** A field a change moved: its value before and after (absent values are null). */
export interface FieldChange {
  before: unknown;
  after: unknown;
}

export interface TicketEvent {
  /** Sorts in time order: `<ISO 8601 time>#<random>`. */
  id: string;
  type: EventType;
  created_at: string;
  ticket_id: string;
  actor: Actor;
  data: Record<string, unknown>;
}

export const Event = z
  .object({
    id: z.string().meta({ description: 'Sorts in time order', example: '2026-11-24T10:15:30.000Z#4f1c2a9b7d3e' }),
    type: z.enum(EVENT_TYPES),
    created_at: z.iso.datetime(),
    ticket_id: z.string(),
    actor: z.string().meta({ description: '`customer`, `assistant`, `system`, or the agent or API key' }),
    data: z.record(z.string(), z.unknown()).meta({
      description:
        'ticket.created: channel, priority, status, first message id and its text (content); message.created: message_id, type, author_name, internal, content, and `changes` when the message moved the ticket; ticket.updated: `changes` {field: {before, after}}; ticket.reopened (a closed ticket taken back to work, by a change, an agent reply or a customer message): `changes`, and `message_id` when a message reopened it; ticket.analyzed: the analytics; churn.alert: churn_risk and category',
    }),
  })
  .meta({ id: 'Event' });

export const EventPage = z
  .object({ events: z.array(Event), next_cursor: z.string().nullable() })
  .meta({ id: 'EventPage' });
export type EventPage = z.infer<typeof EventPage>;

/** A new event (its id taken now, before the transaction that writes it commits). */
export function newEvent(
  type: EventType,
  ticketId: string,
  actor: Actor,
  at: string,
  data: Record<string, unknown> = {},
): TicketEvent {
  return { id: eventId(at), type, created_at: at, ticket_id: ticketId, actor, data };
}

const Limit = z
  .string()
  .regex(/^\d+$/, 'limit is a whole number from 1 to 100')
  .transform(Number)
  .pipe(z.number().int().min(1, 'limit is at least 1').max(100, 'limit is at most 100'));

/** `types=a,b`: a comma-separated list of event types. */
export const EventTypes = z
  .string()
  .transform((s) => s.split(',').map((t) => t.trim()))
  .pipe(z.array(z.enum(EVENT_TYPES)).min(1))
  .meta({ description: 'Comma-separated event types', example: 'ticket.created,ticket.updated' });

export const FeedQuery = z.strictObject({
  after: z.string().max(2048).optional().meta({ description: 'The next_cursor of the previous page' }),
  limit: Limit.optional(),
  types: EventTypes.optional(),
  // A ticket id only: the log's other partitions (the account audit trail) are no ticket's.
  ticket_id: z.string().regex(TICKET_ID_PATTERN, 'not a ticket id').optional(),
});

export const FeedPage = z
  .object({
    events: z.array(Event),
    next_cursor: z.string().meta({ description: 'Continue from here, now or later: nothing is missed or repeated' }),
    has_more: z.boolean().meta({ description: 'false: the settled feed is read to its end' }),
  })
  .meta({ id: 'FeedPage' });
