/** Reusable response documentation for the route specs. */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      request_id: z.string().nullable(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: 'Error' });

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request (see details)',
  401: 'Missing or invalid credential',
  403: 'Role not allowed',
  404: 'Not found',
  409: 'Conflicts with the current state',
  412: 'If-Match does not match the current version',
  413: 'Body too large',
  415: 'Body is not application/json',
  428: 'If-Match required',
  429: 'Rate limited (see Retry-After)',
  503: 'A dependency is unavailable (see Retry-After)',
};

type Responses = RouteConfig['responses'];

export function ok(status: number, description: string, schema?: z.ZodType, headers?: string[]): Responses {
  return {
    [status]: {
      description,
      ...(schema && { content: { 'application/json': { schema } } }),
      ...(headers && { headers: Object.fromEntries(headers.map((h) => [h, { schema: { type: 'string' } }])) }),
    },
  };
}

export function errors(...statuses: number[]): Responses {
  return Object.fromEntries(
    [...new Set([...statuses, 503])].map((s) => [
      s,
      { description: ERROR_TEXT[s] ?? 'Error', content: { 'application/json': { schema: ErrorBody } } },
    ]),
  );
}
