/**
 * Declares a route once: the same spec registers the Express handler, validates params, query and body with
 * zod, enforces the access rule, and documents the operation in the OpenAPI registry.
 */
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { z } from 'zod';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import type { AuthService } from '../auth/service.js';
import { AppError, badRequest, forbidden, unauthorized } from '../errors.js';
import { type Caller, callers, documentIdempotency, type Idempotency } from './idempotency.js';

/** `none`: anyone; `ticket_token`: the customer's ticket access token; a role: that role or above. */
export type Access = 'none' | 'ticket_token' | Role;

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI style: `/v1/tickets/{ticket_id}`. */
  path: string;
  summary: string;
  tags: string[];
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Documented request headers (If-Match...). */
  headers?: AnyObject;
  /** Rate limiters, run before authentication and validation (a refused request still counts). */
  limits?: RequestHandler[];
  /**
   * Accepts an `Idempotency-Key` (creation routes). The caller it is kept for follows the access rule:
   * principal, ticket token or client address. Public routes check it before their rate limits, so a
   * replay costs no quota.
   */
  idempotent?: boolean;
  responses: RouteConfig['responses'];
}

export interface RouteInput<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  /** The authenticated agent or tool (role routes). */
  principal: Principal;
  /** The presented bearer credential (ticket-token routes). */
  bearer: string;
  req: Request;
  res: Response;
}

const SECURITY: Record<string, RouteConfig['security']> = {
  none: [],
  ticket_token: [{ ticketToken: [] }],
  role: [{ bearerAuth: [] }],
};

function bearerOf(req: Request): string | undefined {
  const match = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(req.get('authorization') ?? '');
  return match?.[1];
}

function validationError(where: string, error: z.ZodError): AppError {
  return badRequest(
    `Invalid ${where}`,
    error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message })),
  );
}

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export class ApiRouter {
  readonly router = Router();

  constructor(
    private readonly registry: OpenAPIRegistry,
    private readonly auth: AuthService,
    private readonly idempotency?: Idempotency,
  ) {}

  add<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(
    spec: RouteSpec<P, Q, B>,
    handler: (input: RouteInput<P, Q, B>) => Promise<void> | void,
  ): this {
    const documented = spec.idempotent
      ? documentIdempotency({ headers: spec.headers, responses: spec.responses })
      : { headers: spec.headers, responses: spec.responses };
    this.registry.registerPath({
      method: spec.method,
      path: spec.path,
      summary: spec.summary,
      tags: spec.tags,
      security: SECURITY[spec.access === 'none' || spec.access === 'ticket_token' ? spec.access : 'role'],
      ...(spec.access !== 'none' &&
        spec.access !== 'ticket_token' && { description: `Requires role ${spec.access} or above.` }),
      request: {
        ...(spec.params && { params: spec.params as never }),
        ...(spec.query && { query: spec.query as never }),
        ...(documented.headers && { headers: documented.headers as never }),
        ...(spec.body && { body: { required: true, content: { 'application/json': { schema: spec.body } } } }),
      },
      responses: documented.responses,
    });

    const expressPath = spec.path.replace(/\{(\w+)\}/g, ':$1');
    const publicRoute = spec.access === 'none' || spec.access === 'ticket_token';
    const idempotency = (caller: Caller) =>
      spec.idempotent && this.idempotency ? [this.idempotency.middleware(caller)] : [];
    const before = [
      ...(publicRoute ? idempotency(spec.access === 'none' ? callers.client : callers.ticketToken) : []),
      ...(spec.limits ?? []),
      this.authenticator(spec.access),
      ...(publicRoute ? [] : idempotency(callers.principal)),
    ];
    this.router[spec.method](expressPath, ...before, async (req, res) => {
      const bearer = bearerOf(req);
      const principal = res.locals.principal as Principal | undefined;

      const params = spec.params ? spec.params.safeParse(req.params) : undefined;
      if (params && !params.success) throw validationError('params', params.error);
      const query = spec.query ? spec.query.safeParse({ ...req.query }) : undefined;
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
        req,
        res,
      });
    });
    return this;
  }

  /** Checks the credential the access rule asks for; an agent's or tool's principal goes to `res.locals`. */
  private authenticator(access: Access): RequestHandler {
    return async (req, res, next) => {
      const bearer = bearerOf(req);
      if (access === 'ticket_token') {
        if (!bearer) throw unauthorized('This ticket needs its access token as a Bearer credential');
      } else if (access !== 'none') {
        if (!bearer) throw unauthorized();
        const principal = await this.auth.authenticate(bearer);
        if (!principal) throw unauthorized('The credential is invalid or expired');
        if (!hasRole(principal, access)) throw forbidden();
        res.locals.principal = principal;
      }
      next();
    };
  }
}
