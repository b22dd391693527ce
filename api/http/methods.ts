/**
 * Methods a known path does not support: 405 with `Allow` (RFC 9110 15.5.6), in the error shape, before any
 * credential or body is looked at. `OPTIONS` that CORS did not answer gets 204 with `Allow`. The paths and
 * their methods come from the OpenAPI registry, so a new route is covered without a line here.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { type RequestHandler, Router } from 'express';
import { AppError } from '../errors.js';

export function allowedMethods(registry: OpenAPIRegistry): Map<string, string[]> {
  const byPath = new Map<string, Set<string>>();
  for (const d of registry.definitions) {
    if (d.type !== 'route') continue;
    const methods = byPath.get(d.route.path) ?? new Set<string>();
    methods.add(d.route.method.toUpperCase());
    byPath.set(d.route.path, methods);
  }
  const allow = new Map<string, string[]>();
  for (const [path, methods] of byPath) {
    if (methods.has('GET')) methods.add('HEAD');
    methods.add('OPTIONS');
    allow.set(path, [...methods]);
  }
  return allow;
}

/** Built once every router has declared its routes. */
export function methodGuard(registry: OpenAPIRegistry): RequestHandler {
  const router = Router();
  // Literal paths first: `/v1/tickets/export.csv` must not be taken for `/v1/tickets/{ticket_id}`.
  const paths = [...allowedMethods(registry)].sort(([a], [b]) => Number(a.includes('{')) - Number(b.includes('{')));
  for (const [path, methods] of paths) {
    const allow = methods.join(', ');
    router.all(path.replace(/\{(\w+)\}/g, ':$1'), (req, res, next) => {
      if (req.method === 'OPTIONS') {
        res.setHeader('Allow', allow);
        return void res.status(204).end();
      }
      if (methods.includes(req.method)) return next('router');
      res.setHeader('Allow', allow);
      next(new AppError(405, 'method_not_allowed', `${req.method} is not supported here; use ${allow}`));
    });
  }
  return router;
}
