/**
 * Health. `/health/live`: the process serves HTTP. `/health/ready`: the tables answer and the process is not
 * shutting down (the ALB health check). `/health`: always 200, with each dependency's state; an assistant
 * outage is reported there as degraded, never as unready (pulling every task out of the load balancer
 * because a third-party API is down would turn a degraded service into an outage).
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { HEALTH_PATHS } from '../contract.js';
import { isThrottled } from '../db/health.js';
import { AppError } from '../errors.js';
import { ApiRouter } from './route.js';

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
    time: z.iso.datetime(),
    uptime_seconds: z.number().int().min(0),
    checks: z
      .record(
        z.string(),
        z.object({ status: z.enum(['ok', 'degraded', 'disabled', 'unavailable']), detail: z.string().optional() }),
      )
      .meta({ description: 'One entry per dependency: dynamodb, assistant' }),
  })
  .meta({ id: 'HealthSummary' });

const Live = z.object({ status: z.literal('alive') }).meta({ id: 'HealthLive' });
const Ready = z.object({ status: z.literal('ready') }).meta({ id: 'HealthReady' });

export function healthRouter(registry: OpenAPIRegistry, deps: HealthDeps) {
  const clock = deps.clock ?? (() => new Date());
  const started = Date.now();
  const tags: ['health'] = ['health'];

  const tables = async (): Promise<ComponentHealth> => {
    try {
      await deps.checkTables();
      return { status: 'ok' };
    } catch (err) {
      // The control plane said "slow down": the tables were not reported missing, so this alone does not
      // make the task unready (every task would leave the load balancer at once).
      if (isThrottled(err)) return { status: 'degraded', detail: (err as Error).name };
      return { status: 'unavailable', detail: (err as Error).name || 'error' };
    }
  };

  return new ApiRouter(registry)
    .add(
      {
        method: 'get',
        path: HEALTH_PATHS.live,
        operationId: 'getLiveness',
        summary: 'Liveness: the process serves HTTP',
        tags,
        access: 'none',
        standalone: true,
        success: { status: 200, description: 'Alive', schema: Live },
      },
      ({ res }) => {
        res.json({ status: 'alive' });
      },
    )
    .add(
      {
        method: 'get',
        path: HEALTH_PATHS.ready,
        operationId: 'getReadiness',
        summary: 'Readiness: the tables answer and the process is not shutting down',
        tags,
        access: 'none',
        success: { status: 200, description: 'Ready', schema: Ready },
        errors: {
          503: 'Not ready (code not_ready): a table does not answer, or the process is shutting down; details name the check (checks.dynamodb, checks.lifecycle)',
        },
      },
      async ({ res }) => {
        const [check, reason] = deps.lifecycle.shuttingDown
          ? ['lifecycle', { status: 'unavailable', detail: 'shutting down' }]
          : ['dynamodb', await tables()];
        if (reason.status === 'unavailable') {
          const details = [{ path: `checks.${check}`, message: reason.detail ?? '' }];
          throw new AppError(503, 'not_ready', 'Not ready', details, 5);
        }
        res.json({ status: 'ready' });
      },
    )
    .add(
      {
        method: 'get',
        path: HEALTH_PATHS.summary,
        operationId: 'getHealth',
        summary: 'The state of the service and of each dependency (always 200; degraded parts are reported)',
        tags,
        access: 'none',
        standalone: true,
        success: { status: 200, description: 'State', schema: Summary },
      },
      async ({ res }) => {
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
      },
    ).router;
}
