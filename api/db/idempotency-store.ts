/**
 * Idempotency records: the first response to a request sent with an `Idempotency-Key`, kept 24 hours (TTL)
 * in the rate-limits table under the key AND the caller, so a client's retry gets that response again
 * instead of a second ticket, message, user or API key.
 *
 * A record is reserved (state `running`, with a lease) before the request runs, then either completed with
 * the response or released (deleted) so the key can be used again. A crashed task leaves a reservation that
 * the next attempt takes over once its lease has run out: a key is never locked for good.
 *
 * What a stolen copy of the table reveals: nothing usable. The record key is a MAC of the caller (principal
 * id, client address or ticket token) and the client's key; the request fingerprint is a MAC too (a plain hash
 * of a user-creation body would let anyone test passwords against it offline); the response body, which may
 * hold a ticket's access token or a new API key, is encrypted with AES-256-GCM, bound to its record's key.
 * Both keys are derived from TOKEN_SIGNING_KEY (api/auth/secrets.ts).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { IDEMPOTENCY_KEY_PREFIX } from './tables.js';

/** A response as it is kept and replayed: status, the headers that matter, the body's exact bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The right to complete or release a reservation (held by the request that made it). */
export interface Lease {
  recordKey: string;
  token: string;
  requestMac: string;
}

export type Reservation =
  /** The key is free: run the request, then complete or release the lease. */
  | { kind: 'reserved'; lease: Lease }
  /** The same request already completed: answer with its response. */
  | { kind: 'replay'; response: StoredResponse }
  /** The key was used for another request (method, path or body differ). */
  | { kind: 'mismatch' }
  /** The same request is still running elsewhere. */
  | { kind: 'running' }
  /** The same request completed, but its stored response fails authentication (altered in the table). */
  | { kind: 'unreadable' };

export interface IdempotencyStoreOptions {
  /** How long a reservation holds the key: longer than any request may run (deadlines included). */
  leaseMs?: number;
  /** How long a completed response is kept. */
  retentionSeconds?: number;
  now?: () => number;
}

type RecordItem = {
  limit_key: string;
  record_state: 'running' | 'done';
  request_mac: string;
  expires_at: number;
  lease_token?: string;
  lease_until?: number;
  http_status?: number;
  response_headers?: Record<string, string>;
  response_body?: Uint8Array;
  completed_at?: string;
};

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class IdempotencyStore {
  readonly leaseMs: number;
  readonly retentionSeconds: number;
  private readonly now: () => number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    /** HKDF-derived keys: `mac` names records and fingerprints requests, `seal` encrypts response bodies. */
    private readonly keys: { mac: Buffer; seal: Buffer },
    options: IdempotencyStoreOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 60_000;
    this.retentionSeconds = options.retentionSeconds ?? 24 * 3600;
    this.now = options.now ?? Date.now;
  }

  private mac(parts: string[]): string {
    // JSON keeps the parts apart: ("a:b", "c") and ("a", "b:c") never give the same input.
    return createHmac('sha256', this.keys.mac).update(JSON.stringify(parts)).digest('base64url');
  }

  /** The record's primary key for this caller and client key. */
  recordKey(caller: string, key: string): string {
    return `${IDEMPOTENCY_KEY_PREFIX}${this.mac(['record', caller, key])}`;
  }

  private seal(recordKey: string, plain: Buffer): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.seal, iv);
    cipher.setAAD(Buffer.from(recordKey));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  private open(recordKey: string, sealed: Uint8Array): Buffer | undefined {
    const data = Buffer.from(sealed);
    if (data.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.keys.seal, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(recordKey));
      decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      return undefined;
    }
  }

  /**
   * Reserves the key for this caller, or says why not. `request` is the canonical request (method, path,
   * body): a repeat must present the same one to get the stored response.
   */
  async reserve(caller: string, key: string, request: string): Promise<Reservation> {
    const recordKey = this.recordKey(caller, key);
    const requestMac = this.mac(['request', request]);
    // A record that disappears (released, expired) between the failed put and the read is raced for again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const nowMs = this.now();
      const lease: Lease = { recordKey, token: randomBytes(16).toString('base64url'), requestMac };
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: {
              limit_key: recordKey,
              record_state: 'running',
              request_mac: requestMac,
              lease_token: lease.token,
              lease_until: nowMs + this.leaseMs,
              expires_at: Math.ceil(nowMs / 1000) + this.retentionSeconds,
            } satisfies RecordItem,
            // Free when absent, past its retention (TTL deletes late), or a reservation whose lease ran out.
            ConditionExpression:
              'attribute_not_exists(limit_key) OR expires_at <= :now_s OR (record_state = :running AND lease_until <= :now_ms)',
            ExpressionAttributeValues: {
              ':now_s': Math.floor(nowMs / 1000),
              ':now_ms': nowMs,
              ':running': 'running',
            },
          }),
        );
        return { kind: 'reserved', lease };
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
      const { Item } = await this.doc.send(
        new GetCommand({ TableName: this.table, Key: { limit_key: recordKey }, ConsistentRead: true }),
      );
      const item = Item as RecordItem | undefined;
      const now = this.now();
      if (!item || item.expires_at <= Math.floor(now / 1000)) continue;
      if (item.request_mac !== requestMac) return { kind: 'mismatch' };
      if (item.record_state === 'running') {
        if ((item.lease_until ?? 0) <= now) continue;
        return { kind: 'running' };
      }
      const body = item.response_body && this.open(recordKey, item.response_body);
      if (!body || item.http_status === undefined) return { kind: 'unreadable' };
      return { kind: 'replay', response: { status: item.http_status, headers: item.response_headers ?? {}, body } };
    }
    return { kind: 'running' };
  }

  /**
   * Keeps the response for replay. False when the lease was lost (it ran out and another attempt took the key
   * over): that attempt's response is the one kept.
   */
  async complete(lease: Lease, response: StoredResponse): Promise<boolean> {
    const nowMs = this.now();
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            limit_key: lease.recordKey,
            record_state: 'done',
            request_mac: lease.requestMac,
            http_status: response.status,
            response_headers: response.headers,
            response_body: this.seal(lease.recordKey, response.body),
            completed_at: new Date(nowMs).toISOString(),
            expires_at: Math.ceil(nowMs / 1000) + this.retentionSeconds,
          } satisfies RecordItem,
          ConditionExpression: 'record_state = :running AND lease_token = :token',
          ExpressionAttributeValues: { ':running': 'running', ':token': lease.token },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /** Frees the key (the request failed or was refused): the next attempt runs as if it were the first. */
  async release(lease: Lease): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { limit_key: lease.recordKey },
          ConditionExpression: 'record_state = :running AND lease_token = :token',
          ExpressionAttributeValues: { ':running': 'running', ':token': lease.token },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
