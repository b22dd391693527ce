/**
 * The `Idempotency-Key` request header on creation routes. The first response to a key is kept 24 hours for
 * its caller; a repeat with the same request gets it again, byte for byte, with `Idempotent-Replayed: true`;
 * a repeat with another request is a 422; a repeat while the first is still running is a 409 with
 * Retry-After. Requests without the header are untouched.
 *
 * Which responses are kept: successes (2xx) only. A 4xx changed nothing, so running the request again cannot
 * duplicate anything, and the client may fix its body and retry with the same key (Stripe, the reference,
 * also keeps nothing when validation refuses the request). A 5xx, or a task that dies mid-request, frees the
 * key at once (or when its lease runs out), so the client's retry runs.
 */
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import stringify from 'safe-stable-stringify';
import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { IdempotencyStore, Lease, StoredResponse } from '../db/idempotency-store.js';
import { AppError, badRequest } from '../errors.js';
import { type Logger, scopedLogger } from '../logger.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** 1 to 255 printable ASCII characters (a UUID is the usual choice). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
/** The headers of a response that are kept and replayed with its body. */
const KEPT_HEADERS = ['content-type', 'location', 'etag'];
/** A running request usually ends within a second or two; the lease is only for a task that died. */
const RETRY_AFTER_SECONDS = 1;

/** Who a key belongs to: one caller can never read another's stored response, whatever key it sends. */
export const callers = {
  /** Public ticket creation: the client address (IPv6: its /56, as the rate limits see it). */
  client: (req: Request) => `client:${ipKeyGenerator(req.ip ?? 'unknown')}`,
  /**
   * Public messages: the ticket and its access token as presented. A wrong token names another caller, so it
   * can never replay the ticket owner's response (and its request is refused anyway).
   */
  ticketToken: (req: Request) => {
    const token = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '')?.[1];
    return token ? `ticket:${String(req.params.ticket_id)}:${token}` : undefined;
  },
  /** Agents, API keys, the bootstrap key: the authenticated principal. */
  principal: (_req: Request, res: Response) => {
    const principal = res.locals.principal as Principal | undefined;
    return principal ? `principal:${principal.kind}:${principal.id}` : undefined;
  },
};

export type Caller = (req: Request, res: Response) => string | undefined;

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** What a repeat must match: method, path and body (parsed, keys sorted: whitespace and order do not matter). */
function canonicalRequest(req: Request): string {
  return `${req.method} ${req.originalUrl.split('?')[0]}\n${stringify(req.body ?? null)}`;
}

export class Idempotency {
  constructor(
    private readonly store: IdempotencyStore,
    private readonly logger: Logger,
  ) {}

  /** Middleware for one route; `caller` undefined means the route refuses the request itself (no credential). */
  middleware(caller: Caller): RequestHandler {
    return async (req, res, next) => {
      const key = req.get(IDEMPOTENCY_HEADER);
      if (key === undefined) return next();
      if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
        throw badRequest(`${IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters`, [
          { path: 'headers.idempotency-key', message: 'expected 1 to 255 printable ASCII characters' },
        ]);
      }
      const who = caller(req, res);
      if (who === undefined) return next();
      if (req.body === undefined && req.is('application/json') && hasBody(req)) {
        // Without the parsed body, two different requests would look the same: a wiring mistake, never a replay.
        throw new Error('idempotency middleware placed before the JSON body parser');
      }

      const outcome = await this.store.reserve(who, key, canonicalRequest(req));
      switch (outcome.kind) {
        case 'reserved':
          this.keepResponse(res, outcome.lease);
          return next();
        case 'replay':
          return replay(res, outcome.response);
        case 'mismatch':
          throw new AppError(
            422,
            'idempotency_key_reused',
            `This ${IDEMPOTENCY_HEADER} was already used for a different request; use a new key for a new request`,
          );
        case 'running':
          throw new AppError(
            409,
            'idempotency_request_in_progress',
            `A request with this ${IDEMPOTENCY_HEADER} is still running; retry after it ends`,
            undefined,
            RETRY_AFTER_SECONDS,
          );
        case 'unreadable':
          // Only a record altered in the table fails its authentication: worth an operator's look.
          scopedLogger(this.logger).error('idempotency record fails authentication; not replayed');
          throw new AppError(
            422,
            'idempotency_response_unavailable',
            `The response to this ${IDEMPOTENCY_HEADER} can no longer be returned; check the resource and use a new key`,
          );
      }
    };
  }

  /**
   * Holds the response until it is kept (2xx) or the key released (anything else), then sends it: a client
   * that has the response and retries anyway gets the replay, never a 409.
   */
  private keepResponse(res: Response, lease: Lease): void {
    const { store, logger } = this;
    const chunks: Buffer[] = [];
    const toBuffer = (chunk: unknown, encoding?: unknown) =>
      Buffer.isBuffer(chunk)
        ? chunk
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk)
          : Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    const write = res.write;
    const end = res.end;
    res.write = function (this: Response, chunk: unknown, ...rest: unknown[]) {
      if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, rest[0]));
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Response['write'];
    res.end = function (this: Response, ...args: unknown[]) {
      res.end = end;
      res.write = write;
      const [chunk, encoding] = typeof args[0] === 'function' ? [] : args;
      if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, encoding));
      const log = scopedLogger(logger);
      const settle =
        res.statusCode >= 200 && res.statusCode < 300
          ? store
              .complete(lease, { status: res.statusCode, headers: keptHeaders(res), body: Buffer.concat(chunks) })
              .then((kept) => {
                if (!kept) log.warn('idempotency lease lost before the response was kept');
              })
          : store.release(lease).then(() => undefined);
      settle
        .catch((err: Error) => {
          // The response still goes out; the reservation frees the key when its lease runs out.
          log.warn('idempotency record not updated', { err: { name: err.name, message: err.message } });
        })
        .finally(() => (end as (...a: unknown[]) => Response).apply(this, args));
      return this;
    } as Response['end'];
  }
}

function keptHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = res.getHeader(name);
    if (value !== undefined) out[name] = String(value);
  }
  return out;
}

function replay(res: Response, stored: StoredResponse): void {
  res.status(stored.status);
  for (const [name, value] of Object.entries(stored.headers)) res.setHeader(name, value);
  res.setHeader(REPLAYED_HEADER, 'true');
  res.setHeader('content-length', String(stored.body.length));
  res.end(stored.body);
}

const KeyHeader = z.object({
  [IDEMPOTENCY_HEADER]: z
    .string()
    .min(1)
    .max(255)
    .regex(IDEMPOTENCY_KEY_PATTERN)
    .optional()
    .meta({
      description:
        'A key of your choice (a UUID) that makes retries of this request safe: for 24 hours, the same key and ' +
        'request from the same caller get the first response again, with `Idempotent-Replayed: true`.',
    }),
});

/**
 * The OpenAPI side of an idempotent route: the request header, and what its 409 and 422 mean. The route
 * declaration adds the statuses and the `Idempotent-Replayed` response header.
 */
export const idempotencyDocs = {
  requestHeaders: (headers?: z.ZodType): z.ZodType =>
    headers ? (headers as z.ZodObject).extend(KeyHeader.shape) : KeyHeader,
  running: `A request with this ${IDEMPOTENCY_HEADER} is still running (\`idempotency_request_in_progress\`; see Retry-After)`,
  reused:
    `This ${IDEMPOTENCY_HEADER} was used for a different request (\`idempotency_key_reused\`), or its response ` +
    'can no longer be returned (`idempotency_response_unavailable`)',
};
