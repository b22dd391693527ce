/**
 * The webhook dispatcher (DESIGN 3b, out 1): runs in every task, outside any request.
 *
 * Fan-out. While any subscription is enabled it reads the event feed every `feedPollMs`, re-reading the
 * lookback window (an event's id is taken before its transaction commits) and dropping ids it has seen, and
 * turns each event into one delivery item per subscription that wants it, by conditional put: every task
 * reads every event, whichever puts first creates the delivery, the others' puts fail. The position below
 * which every event has its deliveries is kept in the table (the checkpoint), where a restarted service
 * resumes, so events committed while no task ran are delivered too.
 *
 * Delivery. The task that creates a delivery takes it at once (created already claimed, with a lease) when it
 * has room; otherwise, and for retries and the work of a task that died, the due queue of each subscription is
 * read every `duePollMs`, and at once when a slot frees while deliveries wait. A claim is a conditional
 * update: two tasks never make the same attempt. Attempts of one subscription and ticket run one after the
 * other, in event order. Failures are retried with
 * exponential backoff and jitter from `retryBaseMs`, never before the receiver's Retry-After (capped), during
 * `retryWindowMs` (a day); then the delivery is failed. A subscription that has failed without a single
 * success for `disableAfterMs` (days) is disabled and reported.
 *
 * Isolation. Attempts in flight are bounded per subscription and per task, each under `timeoutMs`, none on a
 * request's path: a dead receiver holds its own slots only. `stop()` aborts attempts in flight and gives
 * their deliveries back, due at once, for another task.
 */
import { randomUUID } from 'node:crypto';
import { LOG_EVENTS } from '../contract.js';
import type { EventHub } from '../events/hub.js';
import type { TicketEvent } from '../events/model.js';
import type { Logger } from '../logger.js';
import { type Delivery, type SigningSubscription, wants } from './model.js';
import type { AttemptRecord, WebhookRepository } from './repository.js';
import type { AttemptResult, WebhookSender } from './sender.js';

export interface DispatcherOptions {
  /** Window every feed read re-reads (EVENTS_LOOKBACK_MS). */
  lookbackMs: number;
  /** Pause between two feed reads while a subscription is enabled. */
  feedPollMs: number;
  /** Pause between two looks at the due queues (retries, deliveries no task holds). */
  duePollMs: number;
  /** How long the list of subscriptions is trusted before it is read again. */
  subscriptionsRefreshMs: number;
  /** Deadline of one attempt. */
  timeoutMs: number;
  /** First retry delay; doubles with each failed attempt. */
  retryBaseMs: number;
  /** Longest single backoff step. */
  maxRetryDelayMs: number;
  /** Retries stop this long after the first attempt (or a redelivery): the delivery is failed. */
  retryWindowMs: number;
  /** Longest Retry-After honoured. */
  retryAfterCapMs: number;
  /** A subscription failing this long without a success is disabled. */
  disableAfterMs: number;
  /** Attempts in flight in this task. */
  concurrency: number;
  /** Attempts in flight per subscription in this task. */
  perWebhookConcurrency: number;
  /** How far back a restarted service resumes at most. */
  catchUpMs: number;
}

export const DEFAULT_DISPATCHER_OPTIONS = {
  duePollMs: 2000,
  subscriptionsRefreshMs: 5000,
  maxRetryDelayMs: 6 * 3600_000,
  retryWindowMs: 24 * 3600_000,
  retryAfterCapMs: 3600_000,
  disableAfterMs: 3 * 24 * 3600_000,
  concurrency: 64,
  perWebhookConcurrency: 16,
  catchUpMs: 24 * 3600_000,
} satisfies Partial<DispatcherOptions>;

/** How often the checkpoint is written while it moves. */
const CHECKPOINT_EVERY_MS = 5000;
/** Shortest pause between two steps, so a step that overruns the poll interval still yields. */
const MIN_PAUSE_MS = 20;
/** Puts sent at once by a fan-out. */
const PUTS_AT_ONCE = 16;

const iso = (ms: number) => new Date(ms).toISOString();
const chainKey = (webhookId: string, ticketId: string) => `${webhookId}\n${ticketId}`;

export class WebhookDispatcher {
  private subs = new Map<string, SigningSubscription>();
  private subsLoadedAt = Number.NEGATIVE_INFINITY;
  private from = '';
  private readonly seen = new Set<string>();
  private checkpointedAt = 0;
  private lastDuePoll = Number.NEGATIVE_INFINITY;
  /** Chains of attempts running, by subscription and ticket. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly activePerWebhook = new Map<string, number>();
  /** Subscriptions with due deliveries this task left in their queue for want of room. */
  private readonly backlog = new Set<string>();
  /** Deliveries left in each subscription's queue by fan-outs so far (a look that began earlier missed them). */
  private readonly queued = new Map<string, number>();
  /** Looks at one subscription's due queue under way. */
  private readonly duePolls = new Map<string, Promise<void>>();
  private readonly aborts = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  /** Attempts made by this task (the benchmark's and the tests' view). */
  attempts = 0;

  constructor(
    private readonly deps: {
      repository: WebhookRepository;
      sender: WebhookSender;
      hub: Pick<EventHub, 'since'>;
      logger: Logger;
      now?: () => number;
    },
    private readonly options: DispatcherOptions,
  ) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private get active(): number {
    let n = 0;
    for (const v of this.activePerWebhook.values()) n += v;
    return n;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /** Ends the loop, aborts the attempts in flight and waits until their deliveries are given back. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.aborts.abort();
    await this.ticking;
    await Promise.allSettled([...this.duePolls.values()]);
    await Promise.allSettled([...this.chains.values()]);
  }

  /** A subscription changed in this task: read them again before the next step. */
  invalidate(): void {
    this.subsLoadedAt = Number.NEGATIVE_INFINITY;
    if (this.started && !this.stopped && !this.ticking) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const started = this.now();
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        // A fixed rate: a slow step (many deliveries to create) does not add its own length to the next wait.
        this.schedule(Math.max(MIN_PAUSE_MS, this.options.feedPollMs - (this.now() - started)));
      });
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      if (this.now() - this.subsLoadedAt >= this.options.subscriptionsRefreshMs) await this.loadSubscriptions();
      if (!this.from) await this.resumePosition();
      const enabled = [...this.subs.values()].filter((s) => s.enabled);
      if (enabled.length > 0) await this.readFeed(enabled);
      else this.idle();
      if (this.now() - this.lastDuePoll >= this.options.duePollMs && enabled.length > 0) {
        this.lastDuePoll = this.now();
        await this.pollDue(enabled);
      }
    } catch (err) {
      if (!this.stopped) {
        this.deps.logger.warn('webhook dispatch step failed; trying again', { err: (err as Error).message });
      }
    }
  }

  private async loadSubscriptions(): Promise<void> {
    const list = await this.deps.repository.listSubscriptions();
    this.subs = new Map(list.map((s) => [s.webhook_id, s]));
    this.subsLoadedAt = this.now();
  }

  private async resumePosition(): Promise<void> {
    const now = this.now();
    const checkpoint = await this.deps.repository.checkpoint();
    const recent = now - this.options.lookbackMs;
    // From the checkpoint (never further back than catchUpMs), or from the lookback window on a first start.
    const at = checkpoint ? Math.max(now - this.options.catchUpMs, Math.min(Date.parse(checkpoint), recent)) : recent;
    this.from = iso(at);
  }

  /** No subscription: nothing to read; the position follows the clock (the checkpoint is left as is). */
  private idle(): void {
    const recent = iso(this.now() - this.options.lookbackMs);
    if (this.from < recent) this.from = recent;
    this.seen.clear();
  }

  private async readFeed(enabled: SigningSubscription[]): Promise<void> {
    const pollStart = this.now();
    const fresh: TicketEvent[] = [];
    for await (const event of this.deps.hub.since(this.from)) {
      if (!this.seen.has(event.id)) fresh.push(event);
    }
    if (fresh.length > 0) await this.fanOut(fresh, enabled);
    for (const e of fresh) this.seen.add(e.id);
    // Every id below this was committed (or abandoned) before the read began: the read saw it.
    const settled = iso(pollStart - this.options.lookbackMs);
    if (settled > this.from) this.from = settled;
    for (const id of this.seen) if (id < this.from) this.seen.delete(id);
    if (this.now() - this.checkpointedAt >= CHECKPOINT_EVERY_MS) {
      this.checkpointedAt = this.now();
      await this.deps.repository.advanceCheckpoint(this.from);
    }
  }

  /** One delivery per event and subscription that wants it; this task takes those it has room for. */
  private async fanOut(events: TicketEvent[], enabled: SigningSubscription[]): Promise<void> {
    const groups = new Map<string, { sub: SigningSubscription; events: TicketEvent[] }>();
    for (const event of [...events].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      for (const sub of enabled) {
        if (!wants(sub, event)) continue;
        const key = chainKey(sub.webhook_id, event.ticket_id);
        const group = groups.get(key) ?? { sub, events: [] };
        group.events.push(event);
        groups.set(key, group);
      }
    }
    const now = this.now();
    const jobs: Array<() => Promise<void>> = [];
    const errors: unknown[] = [];
    for (const [key, { sub, events: list }] of groups) {
      const take = !this.stopped && !this.chains.has(key) && this.hasRoom(sub.webhook_id);
      if (take) this.reserve(sub.webhook_id);
      const token = randomUUID();
      const created: Array<Delivery | undefined> = new Array(list.length);
      const puts = list.map((event, k) => async () => {
        created[k] = await this.deps.repository.createDelivery(
          sub.webhook_id,
          event,
          iso(now),
          take ? { token, leaseUntil: iso(now + this.leaseMs(k + 1)) } : undefined,
        );
      });
      jobs.push(async () => {
        const results = await Promise.allSettled(puts.map((p) => p()));
        for (const r of results) if (r.status === 'rejected') errors.push(r.reason);
        const mine = created.filter((d): d is Delivery => d !== undefined);
        if (take) this.runChain(key, sub.webhook_id, mine, true);
        else if (mine.length > 0) {
          // Left due in the queue: taken when a slot frees, or now if one already has.
          this.backlog.add(sub.webhook_id);
          this.queued.set(sub.webhook_id, (this.queued.get(sub.webhook_id) ?? 0) + 1);
          if (!this.chains.has(key) && this.hasRoom(sub.webhook_id)) void this.pollQueue(sub);
        }
      });
    }
    await pool(jobs, PUTS_AT_ONCE);
    if (errors.length > 0) throw errors[0];
  }

  private async pollDue(enabled: SigningSubscription[]): Promise<void> {
    for (const sub of enabled) {
      if (this.stopped) return;
      await this.pollQueue(sub);
    }
  }

  /** One look at a subscription's due queue, unless one is under way. */
  private pollQueue(sub: SigningSubscription): Promise<void> {
    const running = this.duePolls.get(sub.webhook_id);
    if (running) return running;
    this.backlog.delete(sub.webhook_id);
    const queuedBefore = this.queued.get(sub.webhook_id) ?? 0;
    const run = this.takeDue(sub)
      .catch((err: Error) => {
        if (!this.stopped) this.deps.logger.warn('webhook queue not readable', { err: err.message });
        return false;
      })
      .then((progress) => {
        this.duePolls.delete(sub.webhook_id);
        // More may be waiting: a full page taken (look again while it moves), or deliveries queued meanwhile.
        const missed = (this.queued.get(sub.webhook_id) ?? 0) !== queuedBefore;
        if ((progress || missed) && this.backlog.has(sub.webhook_id) && this.hasRoom(sub.webhook_id) && !this.stopped) {
          void this.pollQueue(sub);
        }
      });
    this.duePolls.set(sub.webhook_id, run);
    return run;
  }

  /** Takes what is due in one subscription's queue, as far as there is room; true when it started some. */
  private async takeDue(sub: SigningSubscription): Promise<boolean> {
    const room = this.options.perWebhookConcurrency - (this.activePerWebhook.get(sub.webhook_id) ?? 0);
    if (room <= 0 || this.active >= this.options.concurrency) {
      this.backlog.add(sub.webhook_id);
      return false;
    }
    const now = this.now();
    const limit = room * 8;
    const due = await this.deps.repository.due(sub.webhook_id, iso(now), limit);
    const byTicket = new Map<string, Delivery[]>();
    for (const d of due.sort((a, b) => (a.event.id < b.event.id ? -1 : 1))) {
      const key = chainKey(sub.webhook_id, d.event.ticket_id);
      if (this.chains.has(key)) continue;
      byTicket.set(key, [...(byTicket.get(key) ?? []), d]);
    }
    // Deliveries of a ticket whose chain runs are taken when it ends.
    let left = due.length >= limit || byTicket.size < new Set(due.map((d) => d.event.ticket_id)).size;
    let started = 0;
    for (const [key, list] of byTicket) {
      if (this.stopped) return started > 0;
      if (!this.hasRoom(sub.webhook_id)) {
        left = true;
        break;
      }
      started++;
      this.reserve(sub.webhook_id);
      const claims = await Promise.all(
        list.map((d, k) => this.deps.repository.claim(d, iso(now), iso(now + this.leaseMs(k + 1)), randomUUID())),
      ).catch((err: unknown) => {
        this.release(sub.webhook_id);
        throw err;
      });
      this.runChain(
        key,
        sub.webhook_id,
        claims.filter((c): c is Delivery => c !== undefined),
        true,
      );
    }
    if (left) this.backlog.add(sub.webhook_id);
    return started > 0;
  }

  /** The k-th attempt of a chain may have to wait for the k - 1 before it: its lease covers them all. */
  private leaseMs(k: number): number {
    return k * (2 * this.options.timeoutMs + 5000);
  }

  private hasRoom(webhookId: string): boolean {
    return (
      this.active < this.options.concurrency &&
      (this.activePerWebhook.get(webhookId) ?? 0) < this.options.perWebhookConcurrency
    );
  }

  private reserve(webhookId: string): void {
    this.activePerWebhook.set(webhookId, (this.activePerWebhook.get(webhookId) ?? 0) + 1);
  }

  private release(webhookId: string): void {
    const n = (this.activePerWebhook.get(webhookId) ?? 1) - 1;
    if (n > 0) this.activePerWebhook.set(webhookId, n);
    else this.activePerWebhook.delete(webhookId);
  }

  private runChain(key: string, webhookId: string, deliveries: Delivery[], reserved: boolean): void {
    const failed = (err: Error): void => {
      this.deps.logger.error('webhook delivery error', { webhook_id: webhookId, err: err.message });
    };
    const run = (async () => {
      // The next attempt starts as soon as the previous one is answered; their records are written meanwhile.
      const records: Promise<void>[] = [];
      for (const d of deliveries) {
        if (this.stopped) {
          await this.deps.repository.release(d, iso(this.now())).catch(() => undefined);
          continue;
        }
        const attempt = await this.attempt(d).catch((err: Error) => {
          failed(err);
          return undefined;
        });
        if (attempt) records.push(attempt.recorded.catch(failed));
      }
      await Promise.all(records);
    })().finally(() => {
      this.chains.delete(key);
      if (reserved) this.release(webhookId);
      // A slot is free: deliveries left waiting in the queue are taken now, not at the next poll.
      const sub = this.subs.get(webhookId);
      if (this.backlog.has(webhookId) && sub?.enabled && !this.stopped) void this.pollQueue(sub);
    });
    this.chains.set(key, run);
  }

  private async subscription(webhookId: string): Promise<SigningSubscription | undefined> {
    const cached = this.subs.get(webhookId);
    if (cached) return cached;
    await this.loadSubscriptions();
    return this.subs.get(webhookId);
  }

  /** Makes one attempt; `recorded` settles once its outcome is written. */
  private async attempt(d: Delivery): Promise<{ recorded: Promise<void> } | undefined> {
    const { repository, sender } = this.deps;
    const sub = await this.subscription(d.webhook_id);
    if (!sub) {
      await repository.remove(d);
      return undefined;
    }
    if (!sub.enabled) {
      // Paused: it waits in its queue, which is polled again once the subscription is enabled.
      await repository.release(d, iso(this.now()));
      return undefined;
    }
    const result = await sender.send(sub, d, this.aborts.signal);
    this.attempts++;
    if (result.aborted) {
      await repository.release(d, iso(this.now())).catch(() => undefined);
      return undefined;
    }
    return { recorded: this.record(sub, d, result) };
  }

  private async record(sub: SigningSubscription, d: Delivery, result: AttemptResult): Promise<void> {
    const { repository, logger } = this.deps;
    const at = this.now();
    const outcome: AttemptRecord = {
      at: iso(at),
      attempts: d.attempts + 1,
      status: result.status,
      latencyMs: result.latencyMs,
      error: result.error,
    };
    if (result.ok) {
      await repository.delivered(d, outcome);
      if (sub.failing_since) await this.recovered(sub, at);
      return;
    }
    const deadline = Date.parse(d.retry_from) + this.options.retryWindowMs;
    if (at >= deadline) {
      await repository.failed(d, outcome);
      logger.info('webhook delivery failed for good', {
        webhook_id: d.webhook_id,
        event_id: d.event.id,
        attempts: outcome.attempts,
        err: result.error,
      });
    } else {
      const next = Math.min(at + this.delay(outcome.attempts, result), deadline);
      await repository.retry(d, outcome, iso(next));
    }
    await this.failing(sub, at);
  }

  /** Backoff with jitter, and never before the receiver's Retry-After (capped). */
  private delay(attempts: number, result: AttemptResult): number {
    const base = Math.min(this.options.retryBaseMs * 2 ** Math.min(attempts - 1, 30), this.options.maxRetryDelayMs);
    const backoff = Math.round(base * (0.8 + Math.random() * 0.4));
    const asked = Math.min(result.retryAfterMs ?? 0, this.options.retryAfterCapMs);
    return Math.max(backoff, asked);
  }

  private merge(sub: SigningSubscription, fields: object | undefined): void {
    if (fields) this.subs.set(sub.webhook_id, { ...sub, ...fields } as SigningSubscription);
  }

  private async recovered(sub: SigningSubscription, at: number): Promise<void> {
    const updated = await this.deps.repository.updateSubscription(sub.webhook_id, { last_success_at: iso(at) }, [
      'failing_since',
    ]);
    this.merge({ ...sub, failing_since: undefined }, updated);
  }

  private async failing(sub: SigningSubscription, at: number): Promise<void> {
    const { repository, logger } = this.deps;
    if (!sub.failing_since) {
      const updated = await repository.updateSubscription(sub.webhook_id, { failing_since: iso(at) }, [], {
        expression: 'attribute_not_exists(failing_since)',
        values: {},
      });
      if (updated) this.merge(sub, updated);
      else this.subsLoadedAt = Number.NEGATIVE_INFINITY;
      return;
    }
    if (at - Date.parse(sub.failing_since) < this.options.disableAfterMs) return;
    const updated = await repository.updateSubscription(
      sub.webhook_id,
      { enabled: false, disabled_reason: 'failing', disabled_at: iso(at), updated_at: iso(at) },
      [],
      {
        expression: 'enabled = :yes AND failing_since = :since',
        values: { ':yes': true, ':since': sub.failing_since },
      },
    );
    if (!updated) return;
    this.merge(sub, updated);
    logger.warn('webhook subscription disabled: its deliveries have failed without a success', {
      event: LOG_EVENTS.webhookDisabled,
      webhook_id: sub.webhook_id,
      // The origin only: a URL's path or query may carry the receiver's own token.
      url: URL.canParse(sub.url) ? new URL(sub.url).origin : undefined,
      failing_since: sub.failing_since,
    });
  }
}

/** Runs the jobs with at most `size` at once. */
async function pool(jobs: Array<() => Promise<void>>, size: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      if (job) await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, jobs.length) }, worker));
}
