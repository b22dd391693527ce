/**
 * Limits on what anyone can call without an account: opening tickets and writing on them (per client IP,
 * the legacy 5 an hour and 20 a minute by default), and login attempts (per account and per client IP). Bridges
 * (integration keys) open tickets and write as customers for a whole channel from one address: their limits
 * are per caller (the API key), counted after authentication.
 * Client IPs come from `req.ip`, which honours exactly TRUST_PROXY_HOPS proxies, so a forged
 * X-Forwarded-For cannot pick a fresh bucket. Over the limit: 429 with Retry-After in the error shape.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import { DynamoRateLimitStore } from '../db/rate-limit-store.js';
import { AppError } from '../errors.js';
import { type Logger, scopedLogger } from '../logger.js';

export interface RateLimiters {
  ticketCreation: RequestHandler;
  customerMessages: RequestHandler;
  loginPerClient: RequestHandler;
  loginPerAccount: RequestHandler;
  /** Tickets opened by one authenticated caller (a bridge's API key); placed after authentication. */
  callerTickets: RequestHandler;
  /** Customer messages carried by one authenticated caller (`from: "customer"`); agents' replies are not counted. */
  callerCustomerMessages: RequestHandler;
  /** Resolves when no counter update is in flight (shutdown waits for it before closing the client). */
  settled(): Promise<void>;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;

const clientKey = (req: Request) => ipKeyGenerator(req.ip ?? 'unknown');
/** The authenticated caller: `api-key:<id>`, a user's e-mail, or the bootstrap key. */
const callerKey = (_req: Request, res: Response) =>
  (res.locals as { principal?: Principal }).principal?.id ?? 'unauthenticated';
const fromCustomer = (req: Request) => (req.body as { from?: unknown } | undefined)?.from === 'customer';

export function createRateLimiters(
  limits: Config['rateLimits'],
  store: { doc: DynamoDBDocumentClient; table: string; deadlineMs?: number },
  logger: Logger,
): RateLimiters {
  const stores: DynamoRateLimitStore[] = [];
  const limiter = (
    name: string,
    windowMs: number,
    limit: number,
    key: (req: Request, res: Response) => string,
    message: string,
    {
      failuresOnly = false,
      acceptedOnly = false,
      onlyWhen,
    }: { failuresOnly?: boolean; acceptedOnly?: boolean; onlyWhen?: (req: Request) => boolean } = {},
  ) =>
    rateLimit({
      windowMs,
      limit,
      keyGenerator: key,
      ...(onlyWhen && { skip: (req: Request) => !onlyWhen(req) }),
      // Login: only failed attempts use up the quota (a success gives its count back).
      skipSuccessfulRequests: failuresOnly,
      skipFailedRequests: acceptedOnly,
      store: (() => {
        const s = new DynamoRateLimitStore(store.doc, store.table, name, Date.now, store.deadlineMs);
        stores.push(s);
        return s;
      })(),
      // The library's own errors (a store that fails) as one JSON log line, not console text.
      logger: {
        warn: (message: unknown) =>
          scopedLogger(logger).warn('rate limiter', { limiter: name, detail: String(message) }),
        error: (err: unknown, message?: string) =>
          scopedLogger(logger).error('rate limiter store error', {
            limiter: name,
            detail: message,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          }),
      },
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      // A limiter whose store is down lets requests through: availability first, the outage is logged and
      // readiness already reports DynamoDB.
      passOnStoreError: true,
      // Our own key generators and trust-proxy setting are deliberate; skip the library's heuristics.
      validate: { trustProxy: false, xForwardedForHeader: false, keyGeneratorIpFallback: false },
      handler: (req, _res, next) => {
        scopedLogger(logger).warn('rate limited', { limiter: name, route: req.path });
        next(new AppError(429, 'rate_limited', message));
      },
    });

  return {
    settled: async () => {
      await Promise.all(stores.map((s) => s.settled()));
    },
    ticketCreation: limiter(
      'tickets',
      HOUR,
      limits.ticketsPerHour,
      clientKey,
      'Too many tickets opened; try again later',
      // The quota is of tickets opened: a request refused (invalid body, 429, outage) gives its count back.
      { acceptedOnly: true },
    ),
    customerMessages: limiter(
      'messages',
      MINUTE,
      limits.messagesPerMinute,
      clientKey,
      'You are sending messages too fast; slow down',
    ),
    callerTickets: limiter(
      'caller-tickets',
      HOUR,
      limits.integrationTicketsPerHour,
      callerKey,
      'Too many tickets opened with this key; try again later',
      { acceptedOnly: true },
    ),
    callerCustomerMessages: limiter(
      'caller-messages',
      MINUTE,
      limits.integrationMessagesPerMinute,
      callerKey,
      'Too many customer messages sent with this key; slow down',
      { onlyWhen: fromCustomer },
    ),
    loginPerClient: limiter(
      'login-client',
      15 * MINUTE,
      limits.loginsPerClient,
      clientKey,
      'Too many failed login attempts from this address; try again later',
      { failuresOnly: true },
    ),
    // OWASP device cookies: a device that logged in before has its own bucket; every unknown device shares
    // the account's, so an outsider's failures lock out unknown devices only, never the owner's.
    loginPerAccount: limiter(
      'login-account',
      15 * MINUTE,
      limits.loginsPerAccount,
      (req, res) => {
        const device = (res.locals as { loginDevice?: string }).loginDevice;
        if (device) return `device:${device}`;
        return `account:${String((req.body as { email?: unknown } | undefined)?.email ?? '')
          .toLowerCase()
          .slice(0, 254)}`;
      },
      'Too many failed login attempts for this account from unknown devices; log in from a device you used ' +
        'before, or try again later',
      { failuresOnly: true },
    ),
  };
}
