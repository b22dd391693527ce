/**
 * Health. `/health/live`: the process serves HTTP. `/health/ready`: the tables answer and the process is not
 * shutting down (the ALB health check). `/health`: always 200, with each dependency's state; an assistant
 * outage is reported there as degraded, never as unready (pulling every task out of the load balancer
 * because a third-party API is down would turn a degraded service into an outage).
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Router } from 'express';
import { z } from 'zod';
import { HEALTH_PATHS } from '../contract.js';
import { AppError } from '../errors.js';
import { currentRequestId } from '../logger.js';
import { errorBody } from './errors.js';
import { errors, ok } from './responses.js';

export interface ComponentHealth {
  status: 'ok' | 'degraded' | 'disabled' | 'unavailable';
  detail?: string;
}

export interface HealthDeps {
  /** Resolves when every table answers. */
  checkTables: () => Promise<void>;
  /** Set when SIGTERM arrives: readiness fails first, so no new traffic is routed here. */
  lifecycle: { shuttingDown: boolean };
  /** Optional parts whose outage degrades the service without making it unready (the assistant). */
  components?: Record<string, () => ComponentHealth>;
  clock?: () => Date;
}

const Summary = z
  .object({
    status: z.enum(['ok', 'degraded', 'shutting_down']),
    time: z.string(),
    uptime_seconds: z.number(),
    checks: z.record(z.string(), z.object({ status: z.string(), detail: z.string().optional() })),
  })
  .meta({ id: 'HealthSummary' });

export function healthRouter(registry: OpenAPIRegistry, deps: HealthDeps) {
  const clock = deps.clock ?? (() => new Date());
  const started = Date.now();
  const router = Router();
  const tags = ['health'];

  const tables = async (): Promise<ComponentHealth> => {
    try {
      await deps.checkTables();
      return { status: 'ok' };
    } catch (err) {
      return { status: 'unavailable', detail: (err as Error).name || 'error' };
    }
  };

  registry.registerPath({
    method: 'get',
    path: HEALTH_PATHS.live,
    tags,
    summary: 'Liveness',
    responses: ok(200, 'Alive'),
  });
  router.get(HEALTH_PATHS.live, (_req, res) => {
    res.json({ status: 'alive' });
  });

  registry.registerPath({
    method: 'get',
    path: HEALTH_PATHS.ready,
    tags,
    summary: 'Readiness: tables answer and not shutting down',
    responses: { ...ok(200, 'Ready'), ...errors() },
  });
  router.get(HEALTH_PATHS.ready, async (_req, res) => {
    const reason = deps.lifecycle.shuttingDown ? { status: 'unavailable', detail: 'shutting down' } : await tables();
    if (reason.status === 'ok') {
      res.json({ status: 'ready' });
      return;
    }
    const error = new AppError(503, 'not_ready', 'Not ready', [{ path: 'dynamodb', message: reason.detail ?? '' }], 5);
    res.setHeader('Retry-After', '5');
    res.status(503).json(errorBody(error, currentRequestId()));
  });

  registry.registerPath({
    method: 'get',
    path: HEALTH_PATHS.summary,
    tags,
    summary: 'Summary',
    responses: ok(200, 'State', Summary),
  });
  router.get(HEALTH_PATHS.summary, async (_req, res) => {
    const checks: Record<string, ComponentHealth> = { dynamodb: await tables() };
    for (const [name, check] of Object.entries(deps.components ?? {})) checks[name] = check();
    const degraded = Object.values(checks).some((c) => c.status === 'degraded' || c.status === 'unavailable');
    const body: z.infer<typeof Summary> = {
      status: deps.lifecycle.shuttingDown ? 'shutting_down' : degraded ? 'degraded' : 'ok',
      time: clock().toISOString(),
      uptime_seconds: Math.round((Date.now() - started) / 1000),
      checks,
    };
    res.json(body);
  });
  return router;
}
