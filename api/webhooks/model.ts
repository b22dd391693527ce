/**
 * Webhook subscriptions and deliveries: the stored shapes, the API's schemas (which also document the routes)
 * and the rules shared by the admin routes and the dispatcher (which events a subscription receives, the
 * stable message id of a delivery).
 */
import { createHash } from 'node:crypto';
import stableStringify from 'safe-stable-stringify';
import { z } from 'zod';
import { EVENT_TYPES, type TicketEvent } from '../events/model.js';

export interface Subscription {
  webhook_id: string;
  url: string;
  /** Event types, or `["*"]` for every type. */
  events: string[];
  description?: string;
  include_internal: boolean;
  enabled: boolean;
  created_at: string;
  updated_at: string;
  /** Why the service disabled it (`failing`), when it did. */
  disabled_reason?: string;
  disabled_at?: string;
  /** First failed attempt since the last success: the subscription is disabled when this gets too old. */
  failing_since?: string;
  last_success_at?: string;
}

/** A subscription with its signing secrets in clear (inside the service only). */
export interface SigningSubscription extends Subscription {
  secret: string;
  /** The secret before the last rotation, also signed with until `previous_secret_until`. */
  previous_secret?: string;
  previous_secret_until?: string;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  webhook_id: string;
  delivery_id: string;
  /** The `webhook-id` header: the same for every attempt of this event to this subscription. */
  message_id: string;
  event: TicketEvent;
  state: DeliveryState;
  attempts: number;
  created_at: string;
  /** Start of the retry window (creation, or the last manual redelivery). */
  retry_from: string;
  due_at?: string;
  claim_token?: string;
  last_attempt_at?: string;
  last_status?: number;
  last_latency_ms?: number;
  last_error?: string;
  delivered_at?: string;
  failed_at?: string;
}

export const ALL_EVENTS = '*';

/** Delivery ids are the event id, base64url-encoded (URL-safe, and the key of the item). */
export const deliveryIdOf = (eventId: string) => Buffer.from(eventId).toString('base64url');
export function eventIdOf(deliveryId: string): string | undefined {
  const id = Buffer.from(deliveryId, 'base64url').toString();
  return deliveryIdOf(id) === deliveryId ? id : undefined;
}

/** `msg_` + a digest of the subscription and the event: stable across attempts, tasks and restarts. */
export const messageIdOf = (webhookId: string, eventId: string) =>
  `msg_${createHash('sha256').update(`${webhookId}\n${eventId}`).digest('base64url').slice(0, 32)}`;

/**
 * The body of every attempt: the event, its fields in a fixed order and `data`'s keys sorted, so that a retry
 * (which reads the event back from the table, where map order is not kept) sends the same bytes.
 */
export function eventPayload(e: TicketEvent): string {
  const head = JSON.stringify({
    id: e.id,
    type: e.type,
    created_at: e.created_at,
    ticket_id: e.ticket_id,
    actor: e.actor,
  });
  return `${head.slice(0, -1)},"data":${stableStringify(e.data ?? {})}}`;
}

/** Does this subscription receive this event? Internal notes only when it asked for them. */
export function wants(sub: Subscription, event: TicketEvent): boolean {
  if (!sub.enabled) return false;
  // A subscription receives what happened after it was made, not the log's past.
  if (event.created_at < sub.created_at) return false;
  if (!sub.events.includes(ALL_EVENTS) && !sub.events.includes(event.type)) return false;
  if (event.type === 'message.created' && event.data.internal === true && !sub.include_internal) return false;
  return true;
}

// ---- API schemas ----

export const WebhookId = z
  .string()
  .regex(/^wh_[A-Za-z0-9]{16}$/, 'not a webhook id')
  .meta({ example: 'wh_3k9XbQ2mZ7pL4sTa' });
const DeliveryIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'not a delivery id');

const EventSelection = z
  .array(z.union([z.literal(ALL_EVENTS), z.enum(EVENT_TYPES)]))
  .min(1, 'name at least one event type, or "*"')
  .max(EVENT_TYPES.length + 1)
  .transform((types) => (types.includes(ALL_EVENTS) ? [ALL_EVENTS] : [...new Set(types)]))
  .meta({ description: 'Event types to receive, or `["*"]` for all (types added later included)' });
const Url = z.string().min(1).max(2048).meta({
  description: 'Where deliveries are POSTed; https and public in production',
  example: 'https://tools.example.com/freeda',
});
const Description = z.string().trim().max(500);

export const NewWebhook = z
  .strictObject({
    url: Url,
    events: EventSelection,
    description: Description.optional(),
    include_internal: z
      .boolean()
      .optional()
      .meta({ description: 'Also receive internal notes (message.created with data.internal true); default false' }),
  })
  .meta({ id: 'NewWebhook' });
export type NewWebhook = z.output<typeof NewWebhook>;

export const WebhookChange = z
  .strictObject({
    url: Url.optional(),
    events: EventSelection.optional(),
    enabled: z
      .boolean()
      .optional()
      .meta({ description: 'false pauses deliveries; true resumes (and clears a disabling)' }),
    description: Description.optional(),
    include_internal: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'change at least one field')
  .meta({ id: 'WebhookChange' });
export type WebhookChange = z.output<typeof WebhookChange>;

export const Webhook = z
  .object({
    webhook_id: WebhookId,
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    include_internal: z.boolean(),
    enabled: z.boolean(),
    disabled_reason: z
      .string()
      .nullable()
      .meta({ description: '`failing`: the service disabled it after its deliveries failed for days' }),
    disabled_at: z.string().nullable(),
    failing_since: z.string().nullable().meta({ description: 'First failed attempt since the last success' }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Webhook' });
export type WebhookView = z.infer<typeof Webhook>;

export const WebhookWithSecret = Webhook.extend({
  secret: z.string().meta({
    description: 'The signing secret (`whsec_` + base64), shown this once: verify deliveries with it',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  }),
}).meta({ id: 'WebhookWithSecret' });

export const WebhookList = z.object({ webhooks: z.array(Webhook) }).meta({ id: 'WebhookList' });

export const DeliveryView = z
  .object({
    delivery_id: z.string(),
    webhook_message_id: z.string().meta({ description: 'The `webhook-id` header of every attempt' }),
    event_id: z.string(),
    event_type: z.string(),
    ticket_id: z.string(),
    state: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    last_attempt_at: z.string().nullable(),
    status_code: z.number().int().nullable().meta({ description: "The receiver's last HTTP status, if it answered" }),
    latency_ms: z.number().int().nullable(),
    error: z.string().nullable(),
    next_retry_at: z.string().nullable().meta({ description: 'When the next attempt is due (pending only)' }),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
    failed_at: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });
export type DeliveryView = z.infer<typeof DeliveryView>;

export const DeliveryList = z.object({ deliveries: z.array(DeliveryView) }).meta({ id: 'WebhookDeliveryList' });

export const WebhookParams = z.strictObject({ webhook_id: WebhookId });
export const DeliveryParams = z.strictObject({ webhook_id: WebhookId, delivery_id: DeliveryIdParam });
export const DeliveriesQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d+$/, 'limit is a whole number from 1 to 100')
    .transform(Number)
    .pipe(z.number().int().min(1, 'limit is at least 1').max(100, 'limit is at most 100'))
    .optional()
    .meta({ description: 'Most recent deliveries first; default 50' }),
});

export function webhookView(s: Subscription): WebhookView {
  return {
    webhook_id: s.webhook_id,
    url: s.url,
    events: s.events,
    description: s.description ?? null,
    include_internal: s.include_internal,
    enabled: s.enabled,
    disabled_reason: s.disabled_reason ?? null,
    disabled_at: s.disabled_at ?? null,
    failing_since: s.failing_since ?? null,
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
}

export function deliveryView(d: Delivery): DeliveryView {
  return {
    delivery_id: d.delivery_id,
    webhook_message_id: d.message_id,
    event_id: d.event.id,
    event_type: d.event.type,
    ticket_id: d.event.ticket_id,
    state: d.state,
    attempts: d.attempts,
    last_attempt_at: d.last_attempt_at ?? null,
    status_code: d.last_status ?? null,
    latency_ms: d.last_latency_ms ?? null,
    error: d.last_error ?? null,
    next_retry_at: d.state === 'pending' ? (d.due_at ?? null) : null,
    created_at: d.created_at,
    delivered_at: d.delivered_at ?? null,
    failed_at: d.failed_at ?? null,
  };
}
