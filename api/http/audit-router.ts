/** The account audit trail, for admins: who changed which account or key, and every login, newest first. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { AUDIT_EVENT_TYPES, type AuditTrail } from '../auth/audit.js';
import type { AuthService } from '../auth/service.js';
import { Timestamp } from '../tickets/model.js';
import { ApiRouter } from './route.js';

const AuditEvent = z
  .object({
    id: z.string().meta({ description: 'Sorts in time order', example: '2026-11-24T10:15:30.000Z#4f1c2a9b7d3e' }),
    type: z.enum(AUDIT_EVENT_TYPES),
    created_at: Timestamp,
    actor: z.string().meta({
      description: 'Who acted: a user e-mail, `api-key:<id>`, `bootstrap-admin`; for a login, the e-mail given',
    }),
    subject: z.string().meta({ description: 'What was acted on: a user e-mail or an API key id' }),
    client_ip: z.string().optional().meta({ description: 'Logins: the client address' }),
    changes: z
      .array(z.string())
      .optional()
      .meta({ description: 'Which fields changed (never their values; a password change says `password`)' }),
  })
  .meta({ id: 'AuditEvent' });

const AuditPage = z
  .object({
    events: z.array(AuditEvent),
    next_cursor: z.string().nullable().meta({ description: 'The next, older page; null at the oldest event kept' }),
  })
  .meta({ id: 'AuditPage' });

const AuditQuery = z.strictObject({
  after: z.string().max(2048).optional().meta({ description: 'The next_cursor of the previous page' }),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, 'limit is a whole number from 1 to 100')
    .transform(Number)
    .pipe(z.number().int().min(1, 'limit is at least 1').max(100, 'limit is at most 100'))
    .optional()
    .meta({ description: 'Events per page (default 50)' }),
  types: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()))
    .pipe(z.array(z.enum(AUDIT_EVENT_TYPES)).min(1))
    .optional()
    .meta({ description: 'Comma-separated audit event types', example: 'auth.login_failed,user.deleted' }),
  // Every actor and subject is stored in lower case (e-mails, key ids, `bootstrap-admin`).
  actor: z
    .string()
    .min(1)
    .max(320)
    .transform((s) => s.toLowerCase())
    .optional()
    .meta({ description: 'Only events by this actor' }),
  subject: z
    .string()
    .min(1)
    .max(320)
    .transform((s) => s.toLowerCase())
    .optional()
    .meta({ description: 'Only events about this user or key' }),
});

export function auditRouter(registry: OpenAPIRegistry, auth: AuthService, trail: AuditTrail) {
  return new ApiRouter(registry, auth).add(
    {
      method: 'get',
      path: '/v1/audit',
      operationId: 'listAuditEvents',
      summary: 'The account audit trail, newest first: account and API key changes, logins and failed logins',
      description:
        'Kept for AUDIT_RETENTION_DAYS (default 365). These events never appear in the change feed, the live ' +
        'streams or webhooks. Filters (`types`, `actor`, `subject`) narrow a page: a filtered page may hold ' +
        'fewer events than `limit` while next_cursor still leads to older ones.',
      tags: ['auth'],
      access: 'admin',
      query: AuditQuery,
      success: { status: 200, description: 'A page of the trail', schema: AuditPage },
    },
    async ({ query, res }) => {
      res.json(await trail.list(query));
    },
  ).router;
}
