/**
 * Declares a route once: the same spec registers the Express handler, parses and validates params, query and
 * body with zod, enforces the access rule, and documents the operation in the OpenAPI registry with every
 * status and header it can send. The statuses that follow from the declaration are added here, so they cannot
 * be forgotten: a body brings 400/413/415, a credential 401 (and 403 above the agent role), a rate limiter
 * 429, any DynamoDB access 503, an `Idempotency-Key` 409 and 422; `errors` adds what the handler itself raises
 * (404, 409, 412...).
 */
import type { OpenAPIRegistry, ResponseConfig, RouteConfig } from '@asteasolutions/zod-to-openapi';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import type { z } from 'zod';
import { actsAsAgent, hasRole, type Principal, type Role } from '../auth/principal.js';
import type { AuthService } from '../auth/service.js';
import { AppError, badRequest, type ErrorDetail, forbidden, unauthorized } from '../errors.js';
import { type Caller, callers, type Idempotency, idempotencyDocs } from './idempotency.js';
import type { Tag } from './openapi.js';
import {
  ERROR_TEXT,
  type ErrorStatus,
  errorResponse,
  type ResponseHeader,
  type SuccessSpec,
  successResponse,
} from './responses.js';

/**
 * `none`: anyone; `ticket_token`: the customer's ticket access token; a role: that role or above, except that
 * an `integration` key passes an `agent` route only to read (GET) or where the route says `bridges: true`.
 */
export type Access = 'none' | 'ticket_token' | Role;

/** Ticket bodies are short texts; anything larger is refused with 413 before it is parsed. */
export const BODY_LIMIT = '64kb';

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI style: `/v1/tickets/{ticket_id}`. */
  path: `/${string}`;
  /** The method name a generated client gets: lowerCamelCase, verb first (`listTickets`), unique. */
  operationId: string;
  summary: string;
  description?: string;
  tags: [Tag, ...Tag[]];
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Documented request headers (If-Match...); the handler reads them. */
  headers?: AnyObject;
  /** Rate limiters, run before authentication and validation (a refused request still counts). */
  limits?: RequestHandler[];
  /**
   * Accepts an `Idempotency-Key` (creation routes). The caller it is kept for follows the access rule:
   * principal, ticket token or client address. Public routes check it before their rate limits, so a
   * replay costs no quota.
   */
  idempotent?: true;
  /** The answer when all goes well. */
  success: SuccessSpec;
  /** Error statuses the handler raises beyond those the declaration implies, with an optional description. */
  errors?: Partial<Record<ErrorStatus, string | true>>;
  /**
   * Also accepts a stream token as `?stream_token=` in place of the Authorization header (EventSource in a
   * browser cannot set headers). The token is purpose-bound: the agents' stream, or this path's ticket.
   */
  streamToken?: true;
  /** Answers without DynamoDB or any other dependency, so never 503 (liveness, the document itself). */
  standalone?: true;
  /**
   * An `agent` route that changes something, opened to `integration` keys too (a bridge's own action, such as
   * writing as the customer); the handler refuses what a bridge may not do. Without it, such a route is
   * refused to them with 403: a new agent action is never open to bridges by accident.
   */
  bridges?: true;
  /**
   * Rate limiters keyed on the authenticated caller (an API key's quota), run after authentication and after
   * the Idempotency-Key check (a replay costs no quota).
   */
  callerLimits?: RequestHandler[];
}

export interface RouteInput<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  /** The authenticated agent or tool (role routes). */
  principal: Principal;
  /** The presented bearer credential (ticket-token routes). */
  bearer: string;
  /** A stream token for this path's ticket stood in for its access token (already checked). */
  ticketByStreamToken: boolean;
  req: Request;
  res: Response;
}

const OPERATION_ID = /^[a-z][a-zA-Z0-9]*$/;

function bearerOf(req: Request): string | undefined {
  // The scheme is case-insensitive (RFC 9110 11.1): `bearer` and `BEARER` work too.
  const match = /^Bearer +([\x21-\x7e]{1,4096})$/i.exec(req.get('authorization') ?? '');
  return match?.[1];
}

/**
 * zod issues -> `details`, each path prefixed with the part of the request (`body.tags.3`, `query.limit`).
 * An unknown key is reported at its own path (`query.sort`), not at the object that holds it.
 */
export function validationError(where: 'params' | 'query' | 'body' | 'headers', error: z.ZodError): AppError {
  const details: ErrorDetail[] = error.issues.flatMap(closestVariant).flatMap((issue) => {
    const at = [where, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...at, key].join('.'), message: 'not a known field or parameter' }));
    }
    return [{ path: at.join('.'), message: issue.message }];
  });
  return badRequest(`Invalid ${where}`, details);
}

/**
 * A value that matches no variant of a union: the faults of the variant it came closest to (fewest issues), so
 * an agent's reply with an empty `content` reads `body.content`, not a bare "Invalid input" on the body.
 */
function closestVariant(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union' || !('errors' in issue) || issue.errors.length === 0) return [issue];
  const closest = issue.errors.reduce((best, variant) => (variant.length < best.length ? variant : best));
  return closest.flatMap((inner) => closestVariant({ ...inner, path: [...issue.path, ...inner.path] }));
}

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

const jsonBody = express.json({ limit: BODY_LIMIT });

/** Every status the declaration implies, plus the handler's own. */
function errorStatuses<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(
  spec: RouteSpec<P, Q, B>,
): Map<ErrorStatus, string | undefined> {
  const statuses = new Map<ErrorStatus, string | undefined>();
  const add = (s: ErrorStatus, description?: string) => statuses.set(s, description ?? statuses.get(s));
  if (spec.params || spec.query || spec.body) add(400);
  if (spec.body) {
    add(413);
    add(415);
  }
  if (spec.access !== 'none') add(401);
  if (spec.access !== 'none' && spec.access !== 'ticket_token' && (spec.access !== 'agent' || closedToBridges(spec)))
    add(403);
  if (spec.access === 'ticket_token') add(404);
  if (spec.limits?.length || spec.callerLimits?.length) add(429);
  if (!spec.standalone) add(503);
  for (const [s, text] of Object.entries(spec.errors ?? {}))
    add(Number(s) as ErrorStatus, text === true ? undefined : text);
  if (spec.idempotent) {
    const conflict = statuses.has(409) ? (statuses.get(409) ?? ERROR_TEXT[409]) : undefined;
    const running = idempotencyDocs.running;
    statuses.set(409, conflict ? `${conflict}; or ${running[0]?.toLowerCase()}${running.slice(1)}` : running);
    add(422, idempotencyDocs.reused);
  }
  return new Map([...statuses].sort(([a], [b]) => a - b));
}

export class ApiRouter {
  readonly router = Router();

  /** `auth` may be left out by routers whose routes are all `access: 'none'` (health, documentation). */
  constructor(
    private readonly registry: OpenAPIRegistry,
    private readonly auth?: AuthService,
    private readonly idempotency?: Idempotency,
  ) {}

  add<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(
    spec: RouteSpec<P, Q, B>,
    handler: (input: RouteInput<P, Q, B>) => Promise<void> | void,
  ): this {
    this.document(spec);
    if (spec.access !== 'none' && !this.auth)
      throw new Error(`${spec.operationId}: a credential check needs the AuthService`);

    const expressPath = spec.path.replace(/\{(\w+)\}/g, ':$1');
    const publicRoute = spec.access === 'none' || spec.access === 'ticket_token';
    const idempotency = (caller: Caller) =>
      spec.idempotent && this.idempotency ? [this.idempotency.middleware(caller)] : [];
    // The body is parsed first: the idempotency check compares it with the first request's.
    const before = [
      ...(spec.body ? [jsonBody] : []),
      ...(publicRoute ? idempotency(spec.access === 'none' ? callers.client : callers.ticketToken) : []),
      ...(spec.limits ?? []),
      this.authenticator(spec.access, spec.streamToken === true, closedToBridges(spec)),
      ...(publicRoute ? [] : idempotency(callers.principal)),
      ...(spec.callerLimits ?? []),
    ];
    this.router[spec.method](expressPath, ...before, async (req, res) => {
      const bearer = bearerOf(req);
      const principal = res.locals.principal as Principal | undefined;
      const ticketByStreamToken = res.locals.ticketByStreamToken === true;
      // The stream token was checked by the authenticator; it is no query parameter of the operation.
      const rawQuery: Record<string, unknown> = { ...req.query };
      if (spec.streamToken) delete rawQuery.stream_token;

      const params = spec.params ? spec.params.safeParse(req.params) : undefined;
      if (params && !params.success) throw validationError('params', params.error);
      const query = spec.query ? spec.query.safeParse(rawQuery) : undefined;
      if (query && !query.success) throw validationError('query', query.error);
      let body: z.ZodSafeParseResult<unknown> | undefined;
      if (spec.body) {
        if (hasBody(req) && !req.is('application/json')) {
          throw new AppError(415, 'unsupported_media_type', 'Send the body as application/json');
        }
        body = spec.body.safeParse(req.body ?? {});
        if (!body.success) throw validationError('body', body.error);
      }

      await handler({
        params: params?.data as z.output<P>,
        query: (query?.data ?? {}) as z.output<Q>,
        body: body?.data as z.output<B>,
        principal: principal as Principal,
        bearer: bearer ?? '',
        ticketByStreamToken,
        req,
        res,
      });
    });
    return this;
  }

  /**
   * Checks the credential the access rule asks for; an agent's or tool's principal goes to `res.locals`.
   * Stream routes also take `?stream_token=` (browsers' EventSource cannot send headers) when no bearer is sent.
   */
  private authenticator(access: Access, acceptsStreamToken: boolean, agentsOnly: boolean): RequestHandler {
    const auth = this.auth;
    return async (req, res, next) => {
      const bearer = bearerOf(req);
      const streamToken = acceptsStreamToken ? req.query.stream_token : undefined;
      if (!bearer && typeof streamToken === 'string' && auth) {
        const grant = await auth.verifyStreamToken(streamToken);
        const invalid = () => unauthorized('The stream token is invalid, expired or for another stream');
        if (access === 'ticket_token') {
          if (!grant || !('ticketId' in grant) || grant.ticketId !== req.params.ticket_id) throw invalid();
          res.locals.ticketByStreamToken = true;
        } else if (access !== 'none') {
          if (!grant || !('principal' in grant)) throw invalid();
          if (!hasRole(grant.principal, access)) throw forbidden();
          res.locals.principal = grant.principal;
        }
      } else if (access === 'ticket_token') {
        if (!bearer) throw unauthorized('This ticket needs its access token as a Bearer credential');
      } else if (access !== 'none' && auth) {
        if (!bearer) throw unauthorized();
        const principal = await auth.authenticate(bearer);
        if (!principal) throw unauthorized('The credential is invalid or expired');
        if (!hasRole(principal, access)) throw forbidden();
        if (agentsOnly && !actsAsAgent(principal)) {
          throw forbidden('An integration key reads tickets and writes as the customer; it cannot act as an agent');
        }
        res.locals.principal = principal;
      }
      next();
    };
  }

  private document<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(spec: RouteSpec<P, Q, B>): void {
    if (!OPERATION_ID.test(spec.operationId)) {
      throw new Error(`operationId ${spec.operationId} is not lowerCamelCase`);
    }
    const taken = this.registry.definitions.some(
      (d) => d.type === 'route' && (d.route.operationId === spec.operationId || sameRoute(d.route, spec)),
    );
    if (taken) throw new Error(`${spec.operationId} (${spec.method} ${spec.path}) is declared twice`);

    const limited = (spec.limits?.length ?? 0) + (spec.callerLimits?.length ?? 0) > 0;
    // A replay is marked; an idempotent route's 409 may be a request still running, sent with Retry-After.
    const responses: Record<string, ResponseConfig> = {
      [spec.success.status]: successResponse(spec.success, limited, spec.idempotent ? ['Idempotent-Replayed'] : []),
    };
    for (const [status, description] of errorStatuses(spec)) {
      const optional: ResponseHeader[] = spec.idempotent && status === 409 ? ['Retry-After'] : [];
      responses[status] = errorResponse(status, limited, description, optional);
    }
    const roleNote =
      spec.access === 'none' || spec.access === 'ticket_token'
        ? undefined
        : `Requires the role ${spec.access} or above${closedToBridges(spec) ? ', integration keys excepted' : ''}.`;
    const description = [spec.description, roleNote].filter(Boolean).join('\n\n');

    this.registry.registerPath({
      method: spec.method,
      path: spec.path,
      operationId: spec.operationId,
      summary: spec.summary,
      ...(description && { description }),
      tags: spec.tags,
      security:
        spec.access === 'none' ? [] : spec.access === 'ticket_token' ? [{ ticketToken: [] }] : [{ bearerAuth: [] }],
      parameters: [{ $ref: '#/components/parameters/RequestId' }],
      request: {
        ...(spec.params && { params: spec.params as never }),
        ...(spec.query && { query: spec.query as never }),
        ...((spec.headers || spec.idempotent) && {
          headers: (spec.idempotent ? idempotencyDocs.requestHeaders(spec.headers) : spec.headers) as never,
        }),
        ...(spec.body && { body: { required: true, content: { 'application/json': { schema: spec.body } } } }),
      },
      responses,
    });
  }
}

/** An agent route that changes something and is not opened to bridges: integration keys get 403. */
const closedToBridges = (spec: { access: Access; method: string; bridges?: true }) =>
  spec.access === 'agent' && spec.method !== 'get' && spec.bridges !== true;

const sameRoute = (route: RouteConfig, spec: { method: string; path: string }) =>
  route.method === spec.method && route.path === spec.path;
