/** Admins: webhook subscriptions, their signing secrets and their deliveries (api/webhooks). */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { AuthService } from '../auth/service.js';
import {
  DeliveriesQuery,
  DeliveryList,
  DeliveryParams,
  DeliveryView,
  NewWebhook,
  Webhook,
  WebhookChange,
  WebhookList,
  WebhookParams,
  WebhookWithSecret,
} from '../webhooks/model.js';
import type { WebhookService } from '../webhooks/service.js';
import type { Idempotency } from './idempotency.js';
import { ApiRouter } from './route.js';

const DELIVERY_NOTE =
  'Each delivery is a POST of the event as JSON, signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`): verify it with the `standardwebhooks` library and the secret. See docs/events.md.';

export function webhooksRouter(
  registry: OpenAPIRegistry,
  auth: AuthService,
  webhooks: WebhookService,
  idempotency: Idempotency,
) {
  const tags: ['events'] = ['events'];
  const notFound = { 404: 'No webhook with this id' };
  return new ApiRouter(registry, auth, idempotency)
    .add(
      {
        method: 'post',
        path: '/v1/webhooks',
        operationId: 'createWebhook',
        summary: 'Subscribe a URL to events (the signing secret is shown once)',
        description: `${DELIVERY_NOTE}\n\nIn production the URL must be https and resolve to public addresses only (400 \`webhook_url_not_https\`, \`webhook_url_private\`, \`webhook_url_unresolved\`).`,
        tags,
        access: 'admin',
        body: NewWebhook,
        idempotent: true,
        success: { status: 201, description: 'Subscribed', schema: WebhookWithSecret },
      },
      async ({ body, res }) => {
        res.status(201).json(await webhooks.create(body));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/webhooks',
        operationId: 'listWebhooks',
        summary: 'Every webhook subscription (never its secret)',
        tags,
        access: 'admin',
        success: { status: 200, description: 'The subscriptions', schema: WebhookList },
      },
      async ({ res }) => {
        res.json({ webhooks: await webhooks.list() });
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/webhooks/{webhook_id}',
        operationId: 'getWebhook',
        summary: 'One webhook subscription, with its state (enabled, disabled for failing, failing since)',
        tags,
        access: 'admin',
        params: WebhookParams,
        success: { status: 200, description: 'The subscription', schema: Webhook },
        errors: notFound,
      },
      async ({ params, res }) => {
        res.json(await webhooks.get(params.webhook_id));
      },
    )
    .add(
      {
        method: 'patch',
        path: '/v1/webhooks/{webhook_id}',
        operationId: 'updateWebhook',
        summary: 'Change a subscription: URL, events, description, internal notes, or pause and resume it',
        tags,
        access: 'admin',
        params: WebhookParams,
        body: WebhookChange,
        success: { status: 200, description: 'The updated subscription', schema: Webhook },
        errors: notFound,
      },
      async ({ params, body, res }) => {
        res.json(await webhooks.update(params.webhook_id, body));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/webhooks/{webhook_id}',
        operationId: 'deleteWebhook',
        summary: 'Delete a subscription (its pending deliveries are dropped)',
        tags,
        access: 'admin',
        params: WebhookParams,
        success: { status: 204, description: 'Deleted' },
        errors: notFound,
      },
      async ({ params, res }) => {
        await webhooks.remove(params.webhook_id);
        res.status(204).end();
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/webhooks/{webhook_id}/rotate-secret',
        operationId: 'rotateWebhookSecret',
        summary: 'A new signing secret, shown once; deliveries carry signatures with both secrets for 24 hours',
        tags,
        access: 'admin',
        params: WebhookParams,
        success: { status: 200, description: 'The new secret', schema: WebhookWithSecret },
        errors: { ...notFound, 409: 'Another rotation is under way' },
      },
      async ({ params, res }) => {
        res.json(await webhooks.rotateSecret(params.webhook_id));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/webhooks/{webhook_id}/deliveries',
        operationId: 'listWebhookDeliveries',
        summary: 'Recent deliveries, newest event first: state, attempts, last status, latency, error, next retry',
        tags,
        access: 'admin',
        params: WebhookParams,
        query: DeliveriesQuery,
        success: { status: 200, description: 'The deliveries', schema: DeliveryList },
        errors: notFound,
      },
      async ({ params, query, res }) => {
        res.json({ deliveries: await webhooks.deliveries(params.webhook_id, query.limit ?? 50) });
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver',
        operationId: 'redeliverWebhookDelivery',
        summary: 'Send a delivery again now (same webhook-id), with a fresh retry window',
        tags,
        access: 'admin',
        params: DeliveryParams,
        success: { status: 200, description: 'The delivery, queued', schema: DeliveryView },
        errors: { 404: 'No such webhook or delivery', 409: 'An attempt of this delivery is in progress' },
      },
      async ({ params, res }) => {
        res.json(await webhooks.redeliver(params.webhook_id, params.delivery_id));
      },
    ).router;
}
