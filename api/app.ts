/**
 * Builds the Express app from its dependencies: no listen, no signals (tests import this).
 */
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { AuditTrail } from './auth/audit.js';
import type { AuthService } from './auth/service.js';
import type { CannedResponses } from './canned/service.js';
import { auditRouter } from './http/audit-router.js';
import { authRouter } from './http/auth-router.js';
import { cannedRouter } from './http/canned-router.js';
import { docsAssets, docsRouter } from './http/docs-router.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { type EventsDeps, eventsRouter } from './http/events-router.js';
import { type HealthDeps, healthRouter } from './http/health-router.js';
import { IDEMPOTENCY_HEADER, type Idempotency, REPLAYED_HEADER } from './http/idempotency.js';
import { methodGuard } from './http/methods.js';
import { registerComponents } from './http/openapi.js';
import { publicRouter } from './http/public-router.js';
import type { RateLimiters } from './http/rate-limits.js';
import { type ReportDeps, reportsRouter } from './http/reports-router.js';
import { requestContext } from './http/request-context.js';
import { ticketsRouter } from './http/tickets-router.js';
import { webhooksRouter } from './http/webhooks-router.js';
import type { Logger } from './logger.js';
import type { TicketService } from './tickets/service.js';
import type { WebhookService } from './webhooks/service.js';

export interface AppDeps {
  logger: Logger;
  auth: AuthService;
  /** The account audit trail (admins read it). */
  audit: AuditTrail;
  tickets: TicketService;
  /** Canned responses (agents send them by id in a message). */
  canned: CannedResponses;
  /** CSV export and analytics summary. */
  reports: Omit<ReportDeps, 'logger'>;
  health: HealthDeps;
  events: EventsDeps;
  /** Webhook subscriptions and their deliveries (admins). */
  webhooks: WebhookService;
  rateLimiters: RateLimiters;
  /** Replays of creation requests sent with an Idempotency-Key. */
  idempotency: Idempotency;
  /** Browser origins allowed to call the API; empty: no cross-origin access. */
  corsOrigins: string[];
  /** Proxies in front of the service (1 behind the ALB); never `true`, which lets clients forge their IP. */
  trustProxyHops: number;
  /** Cookies (the login device token) only over HTTPS: production, behind the ALB's TLS. */
  secureCookies: boolean;
}

export { BODY_LIMIT } from './http/route.js';

/** API responses carry personal data and credentials (tokens, API keys): no cache may keep them. */
const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxyHops);
  // ETags are the ticket versions, set by the routes that support If-Match; no body hashing elsewhere.
  app.set('etag', false);

  const registry = new OpenAPIRegistry();
  registerComponents(registry);
  // Every router declares its routes (and their documentation) before the method guard reads them.
  const health = healthRouter(registry, deps.health);
  const routers = [
    publicRouter(registry, deps.auth, deps.tickets, deps.rateLimiters, deps.idempotency),
    // Before the tickets router: `/v1/tickets/export.csv` must not be taken for `/v1/tickets/{ticket_id}`.
    reportsRouter(registry, deps.auth, { ...deps.reports, logger: deps.logger }),
    ticketsRouter(registry, deps.auth, deps.tickets, deps.rateLimiters, deps.idempotency, deps.canned),
    cannedRouter(registry, deps.auth, deps.canned),
    eventsRouter(registry, deps.auth, deps.events),
    webhooksRouter(registry, deps.auth, deps.webhooks, deps.idempotency),
    authRouter(registry, deps.auth, deps.rateLimiters, { secureCookies: deps.secureCookies }, deps.idempotency),
    auditRouter(registry, deps.auth, deps.audit),
    docsRouter(registry),
  ];

  app.use(requestContext(deps.logger));
  app.use(docsAssets());
  app.use(noStore);
  // CORS preflights first; then any other method a known path does not support (405, or OPTIONS: 204).
  app.use(
    cors({
      origin: deps.corsOrigins.length > 0 ? deps.corsOrigins : false,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', IDEMPOTENCY_HEADER, 'X-Request-Id'],
      exposedHeaders: [
        'ETag',
        'Location',
        'Retry-After',
        REPLAYED_HEADER,
        'X-Request-Id',
        'RateLimit',
        'RateLimit-Policy',
        'Allow',
      ],
      maxAge: 600,
    }),
  );
  app.use(methodGuard(registry));
  // Security headers on every answer, the health routes' included.
  app.use(helmet());
  app.use(health);
  // Each route parses its own JSON body: a route without a body never reads one (no 413 on a GET).
  for (const router of routers) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
