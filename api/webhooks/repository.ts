/**
 * The webhooks table (api/db/tables.ts): subscriptions, deliveries and the dispatchers' checkpoint. The only
 * code that talks to it. Deliveries follow the lease pattern of the analysis queue:
 * - create: conditional put (one per event and subscription, whichever task is first), optionally already
 *   claimed by the task that creates it;
 * - claim: conditional on being queued and due, pushes `due_at` to the end of a lease and sets a claim token:
 *   two tasks never make the same attempt;
 * - settle (delivered, retry later, failed): only with our claim token.
 * Signing secrets are stored sealed (AES-256-GCM, bound to their subscription), never in clear.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  WEBHOOK_CHECKPOINT_PK,
  WEBHOOK_DELIVERIES_PK_PREFIX,
  WEBHOOK_DUE_INDEX,
  WEBHOOK_SUBSCRIPTIONS_PK,
} from '../db/tables.js';
import type { TicketEvent } from '../events/model.js';
import { type Delivery, deliveryIdOf, messageIdOf, type SigningSubscription, type Subscription } from './model.js';

const isConditionFailure = (err: unknown) => (err as Error)?.name === 'ConditionalCheckFailedException';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DAY_SECONDS = 86_400;
/** Deliveries are kept this long after their last change (the deliveries list shows them). */
export const DELIVERY_RETENTION_DAYS = 7;

interface SubscriptionItem extends Omit<Subscription, never> {
  pk: typeof WEBHOOK_SUBSCRIPTIONS_PK;
  sk: string;
  secret_sealed: Uint8Array;
  previous_secret_sealed?: Uint8Array;
  previous_secret_until?: string;
}

interface DeliveryItem extends Delivery {
  pk: string;
  sk: string;
  delivery_queue?: string;
  expires_at: number;
}

const subscriptionFields = (item: SubscriptionItem): Subscription => {
  const { pk: _pk, sk: _sk, secret_sealed: _s, previous_secret_sealed: _p, previous_secret_until: _u, ...rest } = item;
  return rest;
};

const toDelivery = (item: DeliveryItem): Delivery => {
  const { pk: _pk, sk: _sk, delivery_queue: _q, expires_at: _e, ...rest } = item;
  return rest;
};

export class WebhookRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    /** HKDF-derived key sealing the signing secrets. */
    private readonly sealKey: Buffer,
  ) {}

  // ---- secrets ----

  private seal(webhookId: string, secret: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    cipher.setAAD(Buffer.from(`webhook:${webhookId}`));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  private open(webhookId: string, sealed: Uint8Array): string {
    const data = Buffer.from(sealed);
    const decipher = createDecipheriv('aes-256-gcm', this.sealKey, data.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(`webhook:${webhookId}`));
    decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }

  private withSecrets(item: SubscriptionItem): SigningSubscription {
    return {
      ...subscriptionFields(item),
      secret: this.open(item.webhook_id, item.secret_sealed),
      ...(item.previous_secret_sealed && {
        previous_secret: this.open(item.webhook_id, item.previous_secret_sealed),
        previous_secret_until: item.previous_secret_until,
      }),
    };
  }

  // ---- subscriptions ----

  async createSubscription(sub: Subscription, secret: string): Promise<void> {
    const item: SubscriptionItem = {
      ...sub,
      pk: WEBHOOK_SUBSCRIPTIONS_PK,
      sk: sub.webhook_id,
      secret_sealed: this.seal(sub.webhook_id, secret),
    };
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
  }

  /** Every subscription with its secrets: one Query of their partition (there are a handful). */
  async listSubscriptions(): Promise<SigningSubscription[]> {
    const out: SigningSubscription[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': WEBHOOK_SUBSCRIPTIONS_PK },
          ExclusiveStartKey: startKey,
        }),
      );
      out.push(...((page.Items ?? []) as SubscriptionItem[]).map((i) => this.withSecrets(i)));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  async getSubscription(webhookId: string): Promise<SigningSubscription | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: WEBHOOK_SUBSCRIPTIONS_PK, sk: webhookId },
        ConsistentRead: true,
      }),
    );
    return out.Item ? this.withSecrets(out.Item as SubscriptionItem) : undefined;
  }

  /**
   * Sets fields of an existing subscription; `remove` clears others. Undefined when it does not exist (or the
   * condition, if any, does not hold).
   */
  async updateSubscription(
    webhookId: string,
    set: Record<string, unknown>,
    remove: string[] = [],
    condition?: { expression: string; values: Record<string, unknown> },
  ): Promise<Subscription | undefined> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ...(condition?.values ?? {}) };
    const sets = Object.entries(set)
      .filter(([, v]) => v !== undefined)
      .map(([attr, v], i) => {
        names[`#s${i}`] = attr;
        values[`:s${i}`] = v;
        return `#s${i} = :s${i}`;
      });
    const removes = remove.map((attr, i) => {
      names[`#r${i}`] = attr;
      return `#r${i}`;
    });
    const expression = [
      sets.length ? `SET ${sets.join(', ')}` : '',
      removes.length ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: WEBHOOK_SUBSCRIPTIONS_PK, sk: webhookId },
          UpdateExpression: expression,
          ConditionExpression: `attribute_exists(pk)${condition ? ` AND (${condition.expression})` : ''}`,
          ExpressionAttributeNames: names,
          ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return subscriptionFields(out.Attributes as SubscriptionItem);
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  /** A new secret; the current one stays valid (signed with too) until `previousUntil`. */
  async rotateSecret(webhookId: string, secret: string, now: string, previousUntil: string): Promise<boolean> {
    const current = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: WEBHOOK_SUBSCRIPTIONS_PK, sk: webhookId },
        ConsistentRead: true,
      }),
    );
    const item = current.Item as SubscriptionItem | undefined;
    if (!item) return false;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: WEBHOOK_SUBSCRIPTIONS_PK, sk: webhookId },
          UpdateExpression:
            'SET secret_sealed = :new, previous_secret_sealed = :old, previous_secret_until = :until, updated_at = :now',
          // Two rotations at once: the second fails rather than keep a secret nobody has.
          ConditionExpression: 'secret_sealed = :old',
          ExpressionAttributeValues: {
            ':new': this.seal(webhookId, secret),
            ':old': item.secret_sealed,
            ':until': previousUntil,
            ':now': now,
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async deleteSubscription(webhookId: string): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: WEBHOOK_SUBSCRIPTIONS_PK, sk: webhookId },
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  // ---- deliveries ----

  private deliveryKey(webhookId: string, eventId: string) {
    return { pk: `${WEBHOOK_DELIVERIES_PK_PREFIX}${webhookId}`, sk: eventId };
  }

  private expiry(at: string): number {
    return Math.floor(Date.parse(at) / 1000) + DELIVERY_RETENTION_DAYS * DAY_SECONDS;
  }

  /**
   * The delivery of `event` to `webhookId`, unless one exists. With `claim`, it is created already claimed by
   * the caller (due again at the lease's end); otherwise due now. Returns it when this call created it.
   */
  async createDelivery(
    webhookId: string,
    event: TicketEvent,
    now: string,
    claim?: { token: string; leaseUntil: string },
  ): Promise<Delivery | undefined> {
    const item: DeliveryItem = {
      ...this.deliveryKey(webhookId, event.id),
      webhook_id: webhookId,
      delivery_id: deliveryIdOf(event.id),
      message_id: messageIdOf(webhookId, event.id),
      event,
      state: 'pending',
      attempts: 0,
      created_at: now,
      retry_from: now,
      delivery_queue: webhookId,
      due_at: claim ? claim.leaseUntil : now,
      ...(claim && { claim_token: claim.token }),
      expires_at: this.expiry(now),
    };
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
      return toDelivery(item);
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  async getDelivery(webhookId: string, eventId: string): Promise<Delivery | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.deliveryKey(webhookId, eventId), ConsistentRead: true }),
    );
    return out.Item ? toDelivery(out.Item as DeliveryItem) : undefined;
  }

  /** The most recent deliveries of a subscription (by event id, newest first). */
  async recentDeliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `${WEBHOOK_DELIVERIES_PK_PREFIX}${webhookId}` },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return ((out.Items ?? []) as DeliveryItem[]).map(toDelivery);
  }

  /** Deliveries of one subscription due by `now`, oldest due first (index reads lag; the claim decides). */
  async due(webhookId: string, now: string, limit: number): Promise<Delivery[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: WEBHOOK_DUE_INDEX.name,
        KeyConditionExpression: '#q = :q AND #due <= :now',
        ExpressionAttributeNames: {
          '#q': WEBHOOK_DUE_INDEX.partitionAttribute,
          '#due': WEBHOOK_DUE_INDEX.sortAttribute,
        },
        ExpressionAttributeValues: { ':q': webhookId, ':now': now },
        Limit: limit,
      }),
    );
    return ((out.Items ?? []) as DeliveryItem[]).map(toDelivery);
  }

  /** Takes the delivery for a lease if it is queued and due; undefined otherwise (another task has it). */
  async claim(d: Delivery, now: string, leaseUntil: string, token: string): Promise<Delivery | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.deliveryKey(d.webhook_id, d.event.id),
          UpdateExpression: 'SET #due = :lease, claim_token = :token',
          ConditionExpression: 'attribute_exists(#q) AND #due <= :now',
          ExpressionAttributeNames: { '#q': WEBHOOK_DUE_INDEX.partitionAttribute, '#due': 'due_at' },
          ExpressionAttributeValues: { ':now': now, ':lease': leaseUntil, ':token': token },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toDelivery(out.Attributes as DeliveryItem);
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  private async settle(d: Delivery, set: Record<string, unknown>, remove: string[], at: string): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':token': d.claim_token, ':expires': this.expiry(at) };
    const sets = Object.entries(set)
      .filter(([, v]) => v !== undefined)
      .map(([attr, v], i) => {
        names[`#s${i}`] = attr;
        values[`:s${i}`] = v;
        return `#s${i} = :s${i}`;
      });
    // An attribute set to undefined is cleared (a timeout leaves no status of an older attempt behind).
    const cleared = Object.entries(set)
      .filter(([, v]) => v === undefined)
      .map(([attr]) => attr);
    const removes = [...new Set(['claim_token', ...remove, ...cleared])].map((attr, i) => {
      names[`#r${i}`] = attr;
      return `#r${i}`;
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.deliveryKey(d.webhook_id, d.event.id),
          UpdateExpression: `SET ${[...sets, 'expires_at = :expires'].join(', ')} REMOVE ${removes.join(', ')}`,
          ConditionExpression: 'claim_token = :token',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** The receiver took it: the delivery leaves the queue. */
  delivered(d: Delivery, outcome: AttemptRecord): Promise<boolean> {
    return this.settle(
      d,
      { ...record(outcome), state: 'delivered', delivered_at: outcome.at },
      ['delivery_queue', 'due_at'],
      outcome.at,
    );
  }

  /** Another attempt at `dueAt`. */
  retry(d: Delivery, outcome: AttemptRecord, dueAt: string): Promise<boolean> {
    return this.settle(d, { ...record(outcome), due_at: dueAt }, [], outcome.at);
  }

  /** Given up: the delivery leaves the queue and stays as the record of the failure. */
  failed(d: Delivery, outcome: AttemptRecord): Promise<boolean> {
    return this.settle(
      d,
      { ...record(outcome), state: 'failed', failed_at: outcome.at },
      ['delivery_queue', 'due_at'],
      outcome.at,
    );
  }

  /** Gives an unattempted claim back, due at `dueAt` (shutdown, or a receiver busy with the same ticket). */
  release(d: Delivery, dueAt: string): Promise<boolean> {
    return this.settle(d, { due_at: dueAt }, [], dueAt);
  }

  /** Its subscription is gone. */
  async remove(d: Delivery): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: this.deliveryKey(d.webhook_id, d.event.id) }));
  }

  /**
   * Queues the delivery again now, with a fresh retry window (an admin's redelivery). Refused (undefined)
   * while an attempt holds it; the delivery is read back for the answer.
   */
  async redeliver(webhookId: string, eventId: string, now: string): Promise<Delivery | undefined | 'busy'> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.deliveryKey(webhookId, eventId),
          UpdateExpression:
            'SET #state = :pending, #q = :q, due_at = :now, retry_from = :now, expires_at = :expires REMOVE failed_at, delivered_at',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(claim_token) OR due_at <= :now)',
          ExpressionAttributeNames: { '#state': 'state', '#q': WEBHOOK_DUE_INDEX.partitionAttribute },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':q': webhookId,
            ':now': now,
            ':expires': this.expiry(now),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toDelivery(out.Attributes as DeliveryItem);
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return (await this.getDelivery(webhookId, eventId)) ? 'busy' : undefined;
    }
  }

  // ---- the dispatchers' checkpoint ----

  async checkpoint(): Promise<string | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: WEBHOOK_CHECKPOINT_PK, sk: WEBHOOK_CHECKPOINT_PK } }),
    );
    return (out.Item as { position?: string } | undefined)?.position;
  }

  /** Moves the checkpoint forward (never back: every task writes its own view). */
  async advanceCheckpoint(position: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: WEBHOOK_CHECKPOINT_PK, sk: WEBHOOK_CHECKPOINT_PK },
          UpdateExpression: 'SET #p = :p',
          ConditionExpression: 'attribute_not_exists(#p) OR #p < :p',
          ExpressionAttributeNames: { '#p': 'position' },
          ExpressionAttributeValues: { ':p': position },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
}

/** What one attempt gave. */
export interface AttemptRecord {
  at: string;
  attempts: number;
  status?: number;
  latencyMs: number;
  error?: string;
}

function record(o: AttemptRecord): Record<string, unknown> {
  return {
    attempts: o.attempts,
    last_attempt_at: o.at,
    last_status: o.status,
    last_latency_ms: o.latencyMs,
    last_error: o.error,
  };
}
