/**
 * The analysis worker: runs in every task, outside any request. It takes due jobs from the durable queue
 * (job-repository.ts), analyses the ticket's conversation, stores the analytics (conditional write of the
 * analytics attributes only), raises a churn alert when the ticket crosses the threshold, and deletes the
 * job. A job is found two ways: `nudge(ticketId)` right after a customer's message is answered (claimed by
 * key, strongly consistent), and a poll of the jobs index every `pollMs` for the rest (failures to retry,
 * jobs of a task that died, messages another task took).
 *
 * Failures: Mistral unavailable (circuit open, timeout, 5xx, 429) or storage errors put the job back with
 * an exponential backoff, without limit: the analysis completes once Mistral is back. An answer rejected as
 * invalid is tried again a few times, then the job is recorded as failed. While the circuit is open the
 * worker does not poll at all. `stop()` ends the loop, aborts the calls in flight and gives their jobs back.
 */
import { randomUUID } from 'node:crypto';
import { newEvent, type TicketEvent } from '../events/model.js';
import type { Logger } from '../logger.js';
import { type TicketRepository, WriteConflict } from '../tickets/repository.js';
import { messageView } from '../tickets/views.js';
import type { ChurnAlerts } from './alerts.js';
import type { Analyzer } from './analysis.js';
import { ANALYSIS_HISTORY, lastCustomerMessage } from './conversation.js';
import type { AnalysisJob, AnalysisJobRepository } from './job-repository.js';
import { AssistantUnavailable, InvalidModelOutput, type MistralGateway } from './mistral.js';

export interface WorkerOptions {
  /** Pause between two looks at the jobs index. */
  pollMs: number;
  /** First retry delay after a failure; doubles with each consecutive failure. */
  retryMs: number;
  /** Longest retry delay. */
  maxRetryMs?: number;
  /** How long a claimed job is ours before another task may take it over. */
  leaseMs: number;
  /** Analyses run at once by this task. */
  concurrency: number;
  /** Invalid answers in a row before the job is recorded as failed. */
  maxInvalidAnswers?: number;
}

/**
 * Messages read back for an analysis: the recent end of the conversation only, with room for internal notes
 * (which the analysis leaves out) around the ANALYSIS_HISTORY messages it uses.
 */
const ANALYSIS_WINDOW = ANALYSIS_HISTORY * 3;

/** A job whose ticket is not (yet) there: its ticket may still be being written, or was deleted. */
const MISSING_TICKET_GRACE_MS = 60_000;

export class AnalysisWorker {
  private readonly running = new Map<string, Promise<void>>();
  private readonly aborts = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private started = false;

  constructor(
    private readonly deps: {
      jobs: AnalysisJobRepository;
      tickets: TicketRepository;
      analyzer: Analyzer;
      gateway: MistralGateway;
      alerts: ChurnAlerts;
      logger: Logger;
      clock?: () => Date;
    },
    private readonly options: WorkerOptions,
  ) {}

  private now(): Date {
    return this.deps.clock?.() ?? new Date();
  }

  private at(offsetMs = 0): string {
    return new Date(this.now().getTime() + offsetMs).toISOString();
  }

  /** Analyses in flight in this task. */
  get busy(): number {
    return this.running.size;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /** Ends the loop, aborts the calls in flight, waits until their jobs are given back. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.aborts.abort(new AssistantUnavailable('stopped', 'the service is stopping', 1));
    await this.polling;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Analyse this ticket now if its job is due (called after a customer's message is stored and answered). */
  nudge(ticketId: string): void {
    if (this.stopped || this.running.has(ticketId) || this.running.size >= this.options.concurrency) return;
    if (!this.deps.gateway.accepting()) return;
    this.track(ticketId, async () => {
      const job = await this.claim(ticketId);
      if (job) await this.process(job);
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
      });
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    let again = this.options.pollMs;
    try {
      const free = this.options.concurrency - this.running.size;
      if (free > 0 && this.deps.gateway.accepting()) {
        const due = await this.deps.jobs.due(this.at(), free);
        for (const job of due) {
          if (this.stopped || this.running.size >= this.options.concurrency) break;
          if (this.running.has(job.ticket_id)) continue;
          this.track(job.ticket_id, async () => {
            const claimed = await this.claim(job.ticket_id);
            if (claimed) await this.process(claimed);
          });
        }
        // A full page: there may be more waiting; look again as soon as a slot frees.
        if (due.length >= free) again = Math.min(again, 50);
      }
    } catch (err) {
      this.deps.logger.warn('analysis queue not readable; trying again', { err: (err as Error).message });
    }
    this.schedule(again);
  }

  private track(ticketId: string, work: () => Promise<void>): void {
    const run = work()
      .catch((err: Error) => {
        this.deps.logger.error('analysis worker error', { ticket_id: ticketId, err: err.message });
      })
      .finally(() => this.running.delete(ticketId));
    this.running.set(ticketId, run);
  }

  private claim(ticketId: string): Promise<AnalysisJob | undefined> {
    return this.deps.jobs.claim(ticketId, this.at(), this.at(this.options.leaseMs), randomUUID());
  }

  private async process(job: AnalysisJob): Promise<void> {
    const { jobs, tickets, analyzer, alerts } = this.deps;
    try {
      const ticket = await tickets.getTicket(job.ticket_id);
      if (!ticket) {
        if (this.now().getTime() - Date.parse(job.requested_at) > MISSING_TICKET_GRACE_MS) {
          await jobs.remove(job.ticket_id);
        } else {
          await jobs.release(job, this.at(this.options.pollMs));
        }
        return;
      }
      const messages = (await tickets.recentMessages(job.ticket_id, ANALYSIS_WINDOW)).map(messageView);
      if (!lastCustomerMessage(messages)) {
        await this.finish(job);
        return;
      }
      const analytics = await analyzer.analyse(messages, this.aborts.signal);
      const basis = messages[messages.length - 1]?.created_at;
      const at = analytics.analyzed_at;
      // The analysis and, when the ticket crosses the churn threshold, its alert: one transaction.
      const alert = Boolean(analytics.alert && !ticket.analytics?.alert);
      const events: TicketEvent[] = [newEvent('ticket.analyzed', job.ticket_id, 'assistant', at, { analytics })];
      if (alert) {
        events.push(
          newEvent('churn.alert', job.ticket_id, 'assistant', at, {
            churn_risk: analytics.churn_risk,
            category: analytics.category,
            alert: analytics.alert,
          }),
        );
      }
      let stored = true;
      try {
        await tickets.commit('analysis', tickets.setAnalytics(job.ticket_id, analytics, basis, events));
      } catch (err) {
        if (!(err instanceof WriteConflict)) throw err;
        stored = false;
      }
      if (stored && alert) {
        await alerts.raise({ ticket_id: job.ticket_id, channel: ticket.channel, analytics });
      }
      this.deps.logger.info('ticket analysed', {
        ticket_id: job.ticket_id,
        category: analytics.category,
        churn_risk: analytics.churn_risk,
        stored,
      });
      await this.finish(job);
    } catch (err) {
      await this.failed(job, err);
    }
  }

  /** Deletes the job, or gives it back at once when the ticket was requested again while we worked. */
  private async finish(job: AnalysisJob): Promise<void> {
    if (!(await this.deps.jobs.complete(job))) await this.deps.jobs.release(job, this.at(), { failures: 0 });
  }

  private async failed(job: AnalysisJob, err: unknown): Promise<void> {
    const { jobs, logger } = this.deps;
    const message = (err as Error)?.message ?? String(err);
    if (this.stopped) {
      // Give the job back for another task to take at once, instead of waiting for the lease to end.
      await jobs.release(job, this.at()).catch(() => undefined);
      return;
    }
    const invalid =
      err instanceof InvalidModelOutput || (err instanceof AssistantUnavailable && err.reason === 'rejected');
    if (invalid) {
      const count = (job.invalid_answers ?? 0) + 1;
      if (count >= (this.options.maxInvalidAnswers ?? 3)) {
        await jobs.fail(job, this.at(), message);
        logger.warn('ticket analysis failed: the model kept answering outside the vocabulary', {
          ticket_id: job.ticket_id,
          attempts: count,
          err: message,
        });
        return;
      }
      await jobs.release(job, this.at(this.backoff(count)), { invalid_answers: count, last_error: message });
      logger.info('ticket analysis rejected; will ask again', { ticket_id: job.ticket_id, err: message });
      return;
    }
    const count = (job.failures ?? 0) + 1;
    // A 429's Retry-After is a floor; otherwise the backoff alone decides.
    const retryAfterMs =
      err instanceof AssistantUnavailable && err.reason === 'rate_limited' ? err.retryAfterSeconds * 1000 : 0;
    const delay = Math.max(this.backoff(count), retryAfterMs);
    await jobs.release(job, this.at(delay), { failures: count, last_error: message }).catch((e: Error) =>
      logger.warn('analysis job not given back; it is retried when its lease ends', {
        ticket_id: job.ticket_id,
        err: e.message,
      }),
    );
    // Mistral being down is reported by the circuit breaker and /health; anything else deserves attention.
    const level = err instanceof AssistantUnavailable ? 'info' : 'warn';
    logger.log(level, 'ticket analysis postponed', { ticket_id: job.ticket_id, retry_in_ms: delay, err: message });
  }

  private backoff(attempt: number): number {
    const base = this.options.retryMs * 2 ** Math.min(attempt - 1, 20);
    const capped = Math.min(base, this.options.maxRetryMs ?? 600_000);
    return Math.round(capped * (0.8 + Math.random() * 0.4));
  }
}
