/**
 * express-rate-limit store on DynamoDB, so a limit holds across every task behind the load balancer (an
 * in-memory store would allow N times the limit with N tasks, and forget it at every deployment).
 * Fixed windows: one item per key and window, incremented atomically with ADD; TTL deletes old windows.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';

export class DynamoRateLimitStore implements Store {
  windowMs = 60_000;
  readonly localKeys = false;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    /** Distinguishes the limiters sharing the table. */
    readonly prefix: string,
    private readonly clock: () => number = Date.now,
    /**
     * Deadline of one counter update, retries included. The limiter lets requests through when the store
     * fails, so waiting out the client's whole retry budget first would only delay the request's own
     * DynamoDB call: during an outage a login (two limiters) would wait three budgets for its 503.
     */
    private readonly deadlineMs?: number,
  ) {}

  /** Updates in flight, so shutdown can wait for them (a decrement runs after its response was sent). */
  private readonly pending = new Set<Promise<unknown>>();

  /** Resolves once every update started so far has finished, whatever its outcome. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  private window(key: string) {
    const start = Math.floor(this.clock() / this.windowMs) * this.windowMs;
    return { itemKey: `${this.prefix}:${key}:${start}`, resetTime: new Date(start + this.windowMs) };
  }

  private async add(key: string, delta: number): Promise<ClientRateLimitInfo> {
    const { itemKey, resetTime } = this.window(key);
    const sent = this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { limit_key: itemKey },
        UpdateExpression: 'ADD hits :d SET expires_at = if_not_exists(expires_at, :exp)',
        ExpressionAttributeValues: { ':d': delta, ':exp': Math.ceil(resetTime.getTime() / 1000) + 60 },
        ReturnValues: 'UPDATED_NEW',
      }),
      this.deadlineMs ? { abortSignal: AbortSignal.timeout(this.deadlineMs) } : {},
    );
    this.pending.add(sent);
    const out = await sent.finally(() => this.pending.delete(sent));
    return { totalHits: Number(out.Attributes?.hits ?? 0), resetTime };
  }

  increment(key: string): Promise<ClientRateLimitInfo> {
    return this.add(key, 1);
  }

  async decrement(key: string): Promise<void> {
    await this.add(key, -1);
  }

  async resetKey(key: string): Promise<void> {
    const { itemKey } = this.window(key);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { limit_key: itemKey },
        UpdateExpression: 'SET hits = :zero',
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    );
  }
}
