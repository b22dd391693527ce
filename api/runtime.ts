/**
 * The composition root: from a validated config to the app's dependencies. The database and the keys come
 * from the bootstrap step (api/db/bootstrap.ts); this file only wires the services.
 */
import type { AppDeps } from './app.js';
import type { Assistant } from './assistant/assistant.js';
import { buildAssistant } from './assistant/build.js';
import { StoredAuditTrail } from './auth/audit.js';
import { AuditLog } from './auth/audit-log.js';
import { DeviceTokens } from './auth/devices.js';
import { PrincipalRepository } from './auth/repository.js';
import { deriveKey } from './auth/secrets.js';
import { AuthService } from './auth/service.js';
import { SESSION_CHECK_CACHE_MS, SessionStore } from './auth/sessions.js';
import { TokenService } from './auth/tokens.js';
import { CannedRepository } from './canned/repository.js';
import { CannedResponses } from './canned/service.js';
import type { Config } from './config.js';
import { type BootstrapKey, bootstrapAdminKey, prepareTables, startDatabase, tokenSigningKey } from './db/bootstrap.js';
import { createDynamoClients, type DynamoClients } from './db/client.js';
import { cachedCheck, checkTables } from './db/health.js';
import { IdempotencyStore } from './db/idempotency-store.js';
import { ChangeFeed } from './events/feed.js';
import { EventHub } from './events/hub.js';
import { EventLog } from './events/log.js';
import { LiveStreams } from './events/streams.js';
import { Idempotency } from './http/idempotency.js';
import { createRateLimiters } from './http/rate-limits.js';
import type { Logger } from './logger.js';
import { TicketExport } from './reports/export.js';
import { AnalyticsSummaryService } from './reports/summary.js';
import { CursorCodec } from './tickets/cursor.js';
import { ExternalMessageIds } from './tickets/external-ids.js';
import { TicketLists } from './tickets/lists.js';
import { TicketRepository } from './tickets/repository.js';
import { TicketService } from './tickets/service.js';
import { DEFAULT_DISPATCHER_OPTIONS, type DispatcherOptions, WebhookDispatcher } from './webhooks/dispatcher.js';
import { WebhookRepository } from './webhooks/repository.js';
import { WebhookSender } from './webhooks/sender.js';
import { WebhookService } from './webhooks/service.js';
import { type Resolver, systemResolver } from './webhooks/url-policy.js';

export interface Runtime {
  deps: AppDeps;
  lifecycle: { shuttingDown: boolean };
  dynamo: DynamoClients;
  /** Replies, analysis worker, knowledge base (api/assistant). */
  assistant: Assistant;
  /** The bootstrap admin key and where it comes from (the start-up banner says where to find it). */
  bootstrapKey: BootstrapKey;
  /** The live streams' poller: ended at the start of a shutdown, so no stream holds it. */
  hub: EventHub;
  /** Turns events into webhook deliveries and makes them (stopped by close). */
  webhooks: WebhookDispatcher;
  /** Stops the analysis worker and the webhook dispatcher, then releases the DynamoDB client and DynamoDB Local. */
  close(): Promise<void>;
}

/** What tests change beyond the environment: the webhooks' internal timings and the name resolver. */
export interface RuntimeOverrides {
  webhooks?: Partial<DispatcherOptions> & { resolve?: Resolver };
}

export async function buildRuntime(config: Config, logger: Logger, overrides: RuntimeOverrides = {}): Promise<Runtime> {
  const database = await startDatabase(config, logger);
  const dynamo = createDynamoClients({
    endpoint: database.endpoint,
    region: config.awsRegion,
    timeoutMs: config.dynamo.timeoutMs,
  });
  let signingSecret: string;
  let bootstrapKey: BootstrapKey;
  try {
    await prepareTables(config, dynamo, logger);
    signingSecret = tokenSigningKey(config);
    bootstrapKey = bootstrapAdminKey(config);
  } catch (err) {
    dynamo.client.destroy();
    await database.close();
    throw err;
  }
  const tableNames = config.tables;

  const principals = new PrincipalRepository(dynamo.doc, tableNames.principals);
  const cursors = new CursorCodec(deriveKey(signingSecret, 'list-cursor'));
  const audit = new StoredAuditTrail(
    new AuditLog(dynamo.doc, tableNames.events, config.auditRetentionDays),
    cursors,
    logger,
  );
  const auth = new AuthService(
    principals,
    new TokenService(deriveKey(signingSecret, 'access-token'), config.tokenTtlSeconds),
    new SessionStore(principals, {
      refreshTtlSeconds: config.refreshTokenTtlSeconds,
      cacheMs: SESSION_CHECK_CACHE_MS,
    }),
    new DeviceTokens(deriveKey(signingSecret, 'device-token')),
    bootstrapKey.value,
    (err) => logger.warn('recording an API key use failed', { error: (err as Error).message }),
    audit,
  );
  const events = new EventLog(dynamo.doc, tableNames.events, config.eventsRetentionDays);
  const ticketRepository = new TicketRepository(dynamo.doc, tableNames.tickets, events);
  const ticketLists = new TicketLists(dynamo.doc, tableNames.tickets);
  const assistant = buildAssistant({
    config,
    logger,
    doc: dynamo.doc,
    ticketsTable: tableNames.tickets,
    tickets: ticketRepository,
  });
  const feed = new ChangeFeed(events, cursors, config.events.lookbackMs, config.eventsRetentionDays);
  const tickets = new TicketService({
    repository: ticketRepository,
    lists: ticketLists,
    events,
    assistant,
    cursors,
    userExists: (email) => auth.userExists(email),
    externalIds: new ExternalMessageIds(dynamo.doc, tableNames.tickets),
    reopenWindowDays: config.reopenWindowDays,
  });
  // Streams re-check their reader's credential as often as a request would see a change (the session cache).
  const hub = new EventHub(events, config.events.lookbackMs, config.events.pollMs, SESSION_CHECK_CACHE_MS, (err) =>
    logger.warn('event stream poll failed', { err: err instanceof Error ? err.message : String(err) }),
  );
  const streams = new LiveStreams(hub, config.events.lookbackMs);
  const rateLimiters = createRateLimiters(
    config.rateLimits,
    // One attempt's deadline: a limiter that fails open gains nothing from retries.
    { doc: dynamo.doc, table: tableNames.ratelimits, deadlineMs: config.dynamo.timeoutMs },
    logger,
  );
  const { resolve = systemResolver, ...dispatcherOverrides } = overrides.webhooks ?? {};
  const urlPolicy = { allowPrivate: config.webhooks.allowPrivateUrls, resolve };
  const webhookRepository = new WebhookRepository(
    dynamo.doc,
    tableNames.webhooks,
    deriveKey(signingSecret, 'webhook-secret'),
  );
  const webhookSender = new WebhookSender(urlPolicy, config.webhooks.timeoutMs);
  const dispatcher = new WebhookDispatcher(
    { repository: webhookRepository, sender: webhookSender, hub, logger },
    {
      ...DEFAULT_DISPATCHER_OPTIONS,
      lookbackMs: config.events.lookbackMs,
      feedPollMs: config.events.pollMs,
      timeoutMs: config.webhooks.timeoutMs,
      retryBaseMs: config.webhooks.retryBaseMs,
      ...dispatcherOverrides,
    },
  );
  const webhooks = new WebhookService(webhookRepository, urlPolicy, () => dispatcher.invalidate());
  const lifecycle = { shuttingDown: false };
  assistant.start();
  dispatcher.start();

  return {
    lifecycle,
    dynamo,
    assistant,
    bootstrapKey,
    hub,
    webhooks: dispatcher,
    deps: {
      logger,
      rateLimiters,
      idempotency: new Idempotency(
        new IdempotencyStore(dynamo.doc, tableNames.ratelimits, {
          mac: deriveKey(signingSecret, 'idempotency-mac'),
          seal: deriveKey(signingSecret, 'idempotency-seal'),
        }),
        logger,
      ),
      auth,
      audit,
      tickets,
      canned: new CannedResponses(new CannedRepository(dynamo.doc, tableNames.tickets), cursors),
      webhooks,
      events: {
        feed,
        streams,
        heartbeatMs: config.events.heartbeatMs,
        checkTicketToken: (ticketId, token) => tickets.checkToken(ticketId, token),
        checkTicket: (ticketId) => tickets.checkExists(ticketId),
      },
      reports: {
        export: new TicketExport(ticketRepository, ticketLists),
        summary: new AnalyticsSummaryService(ticketLists),
      },
      corsOrigins: config.corsOrigins,
      trustProxyHops: config.trustProxyHops,
      secureCookies: config.production,
      health: {
        lifecycle,
        checkTables: cachedCheck(
          () => checkTables(dynamo.client, Object.values(tableNames), 2000),
          config.healthCheckIntervalMs,
        ),
        components: { assistant: () => assistant.health() },
      },
    },
    async close() {
      await hub.close();
      await dispatcher.stop();
      await webhookSender.close();
      await assistant.stop();
      await rateLimiters.settled();
      dynamo.client.destroy();
      await database.close();
    },
  };
}
