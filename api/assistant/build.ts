/** Builds the assistant from the configuration (called by the composition root, api/runtime.ts). */
import { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { TicketRepository } from '../tickets/repository.js';
import { ChurnAlerts } from './alerts.js';
import { Analyzer } from './analysis.js';
import { Assistant } from './assistant.js';
import { AnalysisJobRepository } from './job-repository.js';
import { KnowledgeBase } from './knowledge-base.js';
import { KnowledgeRepository } from './knowledge-repository.js';
import { MistralGateway } from './mistral.js';
import { Replier } from './replies.js';
import { AnalysisWorker } from './worker.js';

export interface AssistantDeps {
  config: Config;
  logger: Logger;
  doc: DynamoDBDocumentClient;
  ticketsTable: string;
  tickets: TicketRepository;
}

export function buildAssistant({ config, logger, doc, ticketsTable, tickets }: AssistantDeps): Assistant {
  const settings = config.assistant;
  const apiKey = config.mistral.apiKey;
  if (!apiKey) {
    return new Assistant({ replier: new Replier({ budgetMs: settings.replyTimeoutMs }, logger), logger });
  }

  const gateway = new MistralGateway(
    {
      apiKey,
      model: config.mistral.model,
      serverUrl: config.mistral.serverUrl,
      timeoutMs: config.mistral.timeoutMs,
      maxConcurrency: config.mistral.maxConcurrency,
      breaker: { resetMs: config.mistral.breakerResetMs, minCalls: config.mistral.breakerMinCalls },
    },
    logger,
  );
  const knowledge = new KnowledgeBase(gateway, new KnowledgeRepository(doc, ticketsTable), logger, {
    minScore: settings.knowledgeMinScore,
    retryMs: settings.analysisRetryMs,
  });
  const sns = config.alertsTopicArn
    ? {
        topicArn: config.alertsTopicArn,
        client: new SNSClient({
          region: config.awsRegion,
          maxAttempts: 3,
          requestHandler: { connectionTimeout: 1000, requestTimeout: 3000, throwOnRequestTimeout: true },
        }),
      }
    : undefined;
  const worker = new AnalysisWorker(
    {
      jobs: new AnalysisJobRepository(doc, ticketsTable),
      tickets,
      analyzer: new Analyzer(gateway),
      gateway,
      alerts: new ChurnAlerts(logger, sns),
      logger,
    },
    {
      pollMs: settings.analysisPollMs,
      retryMs: settings.analysisRetryMs,
      // Longer than one call can last, so a job is never taken over while its analysis still runs.
      leaseMs: config.mistral.timeoutMs * 2 + 5000,
      concurrency: Math.max(1, Math.floor(config.mistral.maxConcurrency / 2)),
    },
  );
  return new Assistant({
    replier: new Replier({ budgetMs: settings.replyTimeoutMs }, logger, gateway, knowledge),
    logger,
    model: {
      gateway,
      knowledge,
      jobs: new AnalysisJobRepository(doc, ticketsTable),
      worker,
      suggestTimeoutMs: config.mistral.timeoutMs,
    },
  });
}
