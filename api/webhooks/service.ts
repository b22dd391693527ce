/**
 * The admin's use cases for webhooks: subscriptions (the signing secret shown once, stored sealed), their
 * secrets' rotation, their recent deliveries and a redelivery. Knows nothing of HTTP.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AppError, conflict, notFound } from '../errors.js';
import {
  type DeliveryView,
  deliveryView,
  eventIdOf,
  type NewWebhook,
  type Subscription,
  type WebhookChange,
  type WebhookView,
  webhookView,
} from './model.js';
import type { WebhookRepository } from './repository.js';
import { checkUrl, RefusedUrl, type UrlPolicy } from './url-policy.js';

/** After a rotation, deliveries are signed with both secrets this long, so receivers can switch at leisure. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 3600_000;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const newWebhookId = () =>
  `wh_${Array.from({ length: 16 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('')}`;
/** `whsec_` + base64 of 32 random bytes: the format the `standardwebhooks` libraries read. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export class WebhookService {
  constructor(
    private readonly repository: WebhookRepository,
    private readonly policy: UrlPolicy,
    /** Tells this task's dispatcher that subscriptions changed. */
    private readonly changed: () => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async checkedUrl(url: string): Promise<string> {
    try {
      return (await checkUrl(url, this.policy)).href;
    } catch (err) {
      if (err instanceof RefusedUrl) {
        throw new AppError(400, err.code, err.message, [{ path: 'body.url', message: err.message }]);
      }
      throw err;
    }
  }

  async create(body: NewWebhook): Promise<WebhookView & { secret: string }> {
    const url = await this.checkedUrl(body.url);
    const at = this.now().toISOString();
    const sub: Subscription = {
      webhook_id: newWebhookId(),
      url,
      events: body.events,
      ...(body.description && { description: body.description }),
      include_internal: body.include_internal ?? false,
      enabled: true,
      created_at: at,
      updated_at: at,
    };
    const secret = newSecret();
    await this.repository.createSubscription(sub, secret);
    this.changed();
    return { ...webhookView(sub), secret };
  }

  async list(): Promise<WebhookView[]> {
    const subs = await this.repository.listSubscriptions();
    return subs.sort((a, b) => (a.created_at < b.created_at ? -1 : 1)).map(webhookView);
  }

  async get(webhookId: string): Promise<WebhookView> {
    const sub = await this.repository.getSubscription(webhookId);
    if (!sub) throw notFound('Webhook');
    return webhookView(sub);
  }

  async update(webhookId: string, change: WebhookChange): Promise<WebhookView> {
    const set: Record<string, unknown> = {
      ...(change.url !== undefined && { url: await this.checkedUrl(change.url) }),
      ...(change.events !== undefined && { events: change.events }),
      ...(change.description !== undefined && { description: change.description }),
      ...(change.include_internal !== undefined && { include_internal: change.include_internal }),
      ...(change.enabled !== undefined && { enabled: change.enabled }),
      updated_at: this.now().toISOString(),
    };
    // Enabling again starts afresh: the failure record that disabled it goes.
    const remove = change.enabled === true ? ['disabled_reason', 'disabled_at', 'failing_since'] : [];
    const updated = await this.repository.updateSubscription(webhookId, set, remove);
    if (!updated) throw notFound('Webhook');
    this.changed();
    return webhookView(updated);
  }

  async remove(webhookId: string): Promise<void> {
    if (!(await this.repository.deleteSubscription(webhookId))) throw notFound('Webhook');
    this.changed();
  }

  async rotateSecret(webhookId: string): Promise<WebhookView & { secret: string }> {
    const now = this.now();
    const secret = newSecret();
    const until = new Date(now.getTime() + PREVIOUS_SECRET_GRACE_MS).toISOString();
    if (!(await this.repository.rotateSecret(webhookId, secret, now.toISOString(), until))) {
      if (!(await this.repository.getSubscription(webhookId))) throw notFound('Webhook');
      throw conflict('The secret is being rotated by another request; read the webhook and try again');
    }
    this.changed();
    return { ...(await this.get(webhookId)), secret };
  }

  async deliveries(webhookId: string, limit: number): Promise<DeliveryView[]> {
    if (!(await this.repository.getSubscription(webhookId))) throw notFound('Webhook');
    return (await this.repository.recentDeliveries(webhookId, limit)).map(deliveryView);
  }

  async redeliver(webhookId: string, deliveryId: string): Promise<DeliveryView> {
    const eventId = eventIdOf(deliveryId);
    const sub = await this.repository.getSubscription(webhookId);
    if (!sub || !eventId) throw notFound('Delivery');
    const result = await this.repository.redeliver(webhookId, eventId, this.now().toISOString());
    if (result === undefined) throw notFound('Delivery');
    if (result === 'busy') throw conflict('An attempt of this delivery is in progress; try again in a moment');
    this.changed();
    return deliveryView(result);
  }
}
