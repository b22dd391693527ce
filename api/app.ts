/**
 * Builds the Express app from its dependencies: no listen, no signals (tests import this).
 */
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import cors from 'cors';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { AuthService } from './auth/service.js';
import { authRouter } from './http/auth-router.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { type EventsDeps, eventsRouter } from './http/events-router.js';
import { type HealthDeps, healthRouter } from './http/health-router.js';
import { openApiDocument, registerSecuritySchemes } from './http/openapi.js';
import { publicRouter } from './http/public-router.js';
import type { RateLimiters } from './http/rate-limits.js';
import { type ReportDeps, reportsRouter } from './http/reports-router.js';
import { requestContext } from './http/request-context.js';
import { ticketsRouter } from './http/tickets-router.js';
import type { Logger } from './logger.js';
import type { TicketService } from './tickets/service.js';

export interface AppDeps {
  logger: Logger;
  auth: AuthService;
  tickets: TicketService;
  /** CSV export and analytics summary. */
  reports: Omit<ReportDeps, 'logger'>;
  health: HealthDeps;
  events: EventsDeps;
  rateLimiters: RateLimiters;
  /** Browser origins allowed to call the API; empty: no cross-origin access. */
  corsOrigins: string[];
  /** Proxies in front of the service (1 behind the ALB); never `true`, which lets clients forge their IP. */
  trustProxyHops: number;
}

/** Ticket bodies are short texts; anything larger is refused with 413 before it is parsed. */
export const BODY_LIMIT = '64kb';

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxyHops);
  // ETags are the ticket versions, set by the routes that support If-Match; no body hashing elsewhere.
  app.set('etag', false);

  const registry = new OpenAPIRegistry();
  registerSecuritySchemes(registry);

  app.use(requestContext(deps.logger));
  app.use(healthRouter(registry, deps.health));
  app.use(helmet());
  app.use(
    cors({
      origin: deps.corsOrigins.length > 0 ? deps.corsOrigins : false,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'X-Request-Id'],
      exposedHeaders: ['ETag', 'Location', 'Retry-After', 'X-Request-Id'],
      maxAge: 600,
    }),
  );
  app.use(express.json({ limit: BODY_LIMIT }));

  app.use(publicRouter(registry, deps.auth, deps.tickets, deps.rateLimiters));
  // Before the tickets router: `/v1/tickets/export.csv` must not be taken for `/v1/tickets/{ticket_id}`.
  app.use(reportsRouter(registry, deps.auth, { ...deps.reports, logger: deps.logger }));
  app.use(ticketsRouter(registry, deps.auth, deps.tickets));
  app.use(eventsRouter(registry, deps.auth, deps.events));
  app.use(authRouter(registry, deps.auth, deps.rateLimiters));

  let document: ReturnType<typeof openApiDocument> | undefined;
  app.get('/openapi.json', (_req, res) => {
    document ??= openApiDocument(registry);
    res.json(document);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
