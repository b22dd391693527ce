/**
 * The composition root: from a validated config to the app's dependencies. Chooses the DynamoDB endpoint
 * (embedded engine, explicit endpoint, or AWS), checks the tables, derives the keys and builds the services.
 */
import { join } from 'node:path';
import type { AppDeps } from './app.js';
import type { Assistant } from './assistant/assistant.js';
import { buildAssistant } from './assistant/build.js';
import { logAuditSink } from './auth/audit.js';
import { DeviceTokens } from './auth/devices.js';
import { PrincipalRepository } from './auth/repository.js';
import { deriveKey } from './auth/secrets.js';
import { AuthService } from './auth/service.js';
import { SESSION_CHECK_CACHE_MS, SessionStore } from './auth/sessions.js';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import { createDynamoClients, type DynamoClients } from './db/client.js';
import { cachedCheck, checkTables } from './db/health.js';
import { type LocalEngine, startLocalEngine } from './db/local-engine.js';
import { ensureTables, missingTables } from './db/schema.js';
import { createRateLimiters } from './http/rate-limits.js';
import { localSecret } from './local-secrets.js';
import type { Logger } from './logger.js';
import { TicketExport } from './reports/export.js';
import { AnalyticsSummaryService } from './reports/summary.js';
import { CursorCodec } from './tickets/cursor.js';
import { TicketRepository } from './tickets/repository.js';
import { TicketService } from './tickets/service.js';

export interface Runtime {
  deps: AppDeps;
  lifecycle: { shuttingDown: boolean };
  dynamo: DynamoClients;
  /** Replies, analysis worker, knowledge base (api/assistant). */
  assistant: Assistant;
  /** Stops the analysis worker, then releases the DynamoDB client and the embedded engine. */
  close(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export async function buildRuntime(config: Config, logger: Logger): Promise<Runtime> {
  let engine: LocalEngine | undefined;
  let endpoint = config.dynamo.endpoint;
  if (config.dynamo.mode === 'embedded') {
    engine = await startLocalEngine({ path: join(config.dataDir, 'dynamodb') });
    endpoint = engine.endpoint;
  }
  const dynamo = createDynamoClients({ endpoint, region: config.awsRegion, timeoutMs: config.dynamo.timeoutMs });
  const tableNames = config.tables;

  if (engine) {
    const created = await ensureTables(dynamo.client, tableNames);
    if (created.length)
      logger.info('created tables on the embedded engine', { tables: created, data_dir: config.dataDir });
  } else if (config.dynamo.mode === 'endpoint') {
    // On AWS the tables come from the Pulumi program and readiness reports them; a local endpoint without
    // tables is a setup mistake worth stopping for.
    const missing = await missingTables(dynamo.client, tableNames).catch((err: Error) => {
      throw new StartupError(`DYNAMODB_ENDPOINT ${endpoint} does not answer: ${err.message}`);
    });
    if (missing.length) {
      throw new StartupError(
        `tables ${missing.join(', ')} do not exist at ${endpoint}; create them with \`npm run db:create-tables\``,
      );
    }
  }

  const signingSecret = config.tokenSigningKey ?? localSecret(config.dataDir, 'token-signing-key').value;
  let bootstrapKey = config.bootstrapAdminKey;
  if (!bootstrapKey && config.dynamo.mode === 'embedded') {
    const secret = localSecret(config.dataDir, 'bootstrap-admin-key');
    bootstrapKey = secret.value;
    if (secret.created) {
      // Printed once, on the terminal of the developer who just started the service; never logged again.
      process.stdout.write(
        `\nBootstrap admin key (shown once, kept in ${secret.path}):\n  ${bootstrapKey}\n` +
          'Use it as "Authorization: Bearer <key>" to create users (POST /v1/users) and API keys (POST /v1/api-keys).\n\n',
      );
    } else {
      logger.info('bootstrap admin key is in the data directory', { path: secret.path });
    }
  }

  const principals = new PrincipalRepository(dynamo.doc, tableNames.principals);
  const auth = new AuthService(
    principals,
    new TokenService(deriveKey(signingSecret, 'access-token'), config.tokenTtlSeconds),
    new SessionStore(principals, {
      refreshTtlSeconds: config.refreshTokenTtlSeconds,
      cacheMs: SESSION_CHECK_CACHE_MS,
    }),
    new DeviceTokens(deriveKey(signingSecret, 'device-token')),
    bootstrapKey,
    (err) => logger.warn('recording an API key use failed', { error: (err as Error).message }),
    logAuditSink(logger),
  );
  const ticketRepository = new TicketRepository(dynamo.doc, tableNames.tickets);
  const assistant = buildAssistant({
    config,
    logger,
    doc: dynamo.doc,
    ticketsTable: tableNames.tickets,
    tickets: ticketRepository,
  });
  const tickets = new TicketService({
    repository: ticketRepository,
    assistant,
    cursors: new CursorCodec(deriveKey(signingSecret, 'list-cursor')),
    userExists: (email) => auth.userExists(email),
  });
  const rateLimiters = createRateLimiters(
    config.rateLimits,
    // One attempt's deadline: a limiter that fails open gains nothing from retries.
    { doc: dynamo.doc, table: tableNames.ratelimits, deadlineMs: config.dynamo.timeoutMs },
    logger,
  );
  const lifecycle = { shuttingDown: false };
  assistant.start();

  return {
    lifecycle,
    dynamo,
    assistant,
    deps: {
      logger,
      rateLimiters,
      auth,
      tickets,
      reports: {
        export: new TicketExport(ticketRepository),
        summary: new AnalyticsSummaryService(ticketRepository),
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
      await assistant.stop();
      await rateLimiters.settled();
      dynamo.client.destroy();
      await engine?.close();
    },
  };
}
