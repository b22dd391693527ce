/**
 * The assistant as the ticket use cases see it (TicketAssistant), plus its health and lifecycle.
 * Without a Mistral key it still answers with smart replies and the acknowledgement, and analyses nothing.
 */
import type { Write } from '../db/transaction.js';
import { AppError } from '../errors.js';
import type { ComponentHealth } from '../http/health-router.js';
import type { Logger } from '../logger.js';
import type { Message } from '../tickets/model.js';
import type { TicketAssistant } from '../tickets/service.js';
import type { AnalysisJobRepository } from './job-repository.js';
import type { KnowledgeBase } from './knowledge-base.js';
import { AssistantUnavailable, type MistralGateway } from './mistral.js';
import { ASSISTANT_AUTHOR } from './persona.js';
import type { Replier } from './replies.js';
import type { AnalysisWorker } from './worker.js';

/**
 * Mistral calls failing one after the other that make the assistant degraded in /health, before the circuit
 * breaker has seen enough calls to open (at a few calls a minute that could take a long while).
 */
export const DEGRADED_AFTER_FAILURES = 3;

export interface AssistantParts {
  replier: Replier;
  logger: Logger;
  /** Present when MISTRAL_API_KEY is set. */
  model?: {
    gateway: MistralGateway;
    knowledge: KnowledgeBase;
    jobs: AnalysisJobRepository;
    worker: AnalysisWorker;
    /** Deadline of a suggestion (an agent waits for it; a customer does not wait for analysis). */
    suggestTimeoutMs: number;
  };
  clock?: () => Date;
}

export class Assistant implements TicketAssistant {
  readonly authorName = ASSISTANT_AUTHOR;

  constructor(private readonly parts: AssistantParts) {}

  get enabled(): boolean {
    return this.parts.model !== undefined;
  }

  get knowledge(): KnowledgeBase | undefined {
    return this.parts.model?.knowledge;
  }

  get worker(): AnalysisWorker | undefined {
    return this.parts.model?.worker;
  }

  analysisRequest(ticketId: string, now: string): Write | undefined {
    return this.parts.model?.jobs.requestWrite(ticketId, now);
  }

  analyseSoon(ticketId: string): void {
    this.parts.model?.worker.nudge(ticketId);
  }

  async replyTo(conversation: Message[]): Promise<{ text: string; acknowledgement: boolean } | undefined> {
    try {
      const reply = await this.parts.replier.replyTo(conversation);
      return reply && { text: reply.text, acknowledgement: reply.source === 'acknowledgement' };
    } catch (err) {
      this.parts.logger.error('assistant reply failed', { err: (err as Error).message });
      return undefined;
    }
  }

  replyNotStored(ticketId: string, err: unknown): void {
    this.parts.logger.error('assistant reply not stored', { ticket_id: ticketId, err: (err as Error)?.message });
  }

  async suggestReply(conversation: Message[]): Promise<string> {
    const model = this.parts.model;
    if (!model) {
      // A setting, not an outage: retrying will not help, so a 409 without Retry-After, and no error log.
      this.parts.logger.info('reply suggestion refused: no model is configured (MISTRAL_API_KEY is not set)');
      throw new AppError(
        409,
        'assistant_not_configured',
        'The assistant is not configured on this service (smart replies only): no reply can be suggested',
      );
    }
    try {
      return await this.parts.replier.suggest(conversation, AbortSignal.timeout(model.suggestTimeoutMs));
    } catch (err) {
      const retryAfter = err instanceof AssistantUnavailable ? err.retryAfterSeconds : 5;
      this.parts.logger.warn('reply suggestion unavailable', { err: (err as Error).message });
      throw new AppError(
        503,
        'assistant_unavailable',
        'The assistant cannot suggest a reply right now; retry later',
        undefined,
        retryAfter,
      );
    }
  }

  health(): ComponentHealth {
    const model = this.parts.model;
    if (!model) return { status: 'disabled', detail: 'smart replies only: MISTRAL_API_KEY is not set' };
    switch (model.gateway.state()) {
      case 'open':
        return {
          status: 'degraded',
          detail: 'circuit open: Mistral is failing; customers get the acknowledgement, analysis waits in its queue',
        };
      case 'half_open':
        return { status: 'degraded', detail: 'circuit half-open: probing Mistral' };
      default: {
        const failures = model.gateway.consecutiveFailures();
        if (failures >= DEGRADED_AFTER_FAILURES) {
          return {
            status: 'degraded',
            detail: `the last ${failures} Mistral calls failed; customers get the acknowledgement, analysis waits in its queue`,
          };
        }
        return {
          status: 'ok',
          detail: `model ${model.gateway.model}; knowledge base ${model.knowledge.state} (${model.knowledge.size} entries)`,
        };
      }
    }
  }

  /** Starts the knowledge-base load and the analysis worker (both in the background). */
  start(): void {
    void this.parts.model?.knowledge.start();
    this.parts.model?.worker.start();
  }

  /** Stops the worker (its jobs go back to the queue), then the model client. */
  async stop(): Promise<void> {
    const model = this.parts.model;
    if (!model) return;
    model.knowledge.stop();
    await model.worker.stop();
    model.gateway.shutdown();
  }
}
