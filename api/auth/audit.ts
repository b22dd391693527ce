/**
 * The account audit trail: who created, changed or deleted an account or an API key, and every login, failed
 * or not, with the client's address (never a password or a token). AuthService hands each event to an
 * AuditSink; the one here writes it as a JSON log line (`"audit": "<type>"`), and a sink writing to a
 * durable, admin-readable log can take its place without touching the service.
 */
import type { Logger } from '../logger.js';

export type AuditEventType =
  | 'user.created'
  | 'user.updated'
  | 'user.deleted'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'auth.login'
  | 'auth.login_failed';

export interface AuditEvent {
  type: AuditEventType;
  /** Who acted: a principal id (`user e-mail`, `api-key:<id>`, `bootstrap-admin`), or the e-mail logging in. */
  actor: string;
  /** What it acted on: a user's e-mail or an API key id. */
  subject: string;
  /** Client address (logins). */
  client_ip?: string;
  /** Which fields changed (updates), never their secret values. */
  changes?: string[];
}

export interface AuditSink {
  record(event: AuditEvent): Promise<void>;
}

export function logAuditSink(logger: Logger): AuditSink {
  return {
    async record(event) {
      logger.info('audit', { audit: event.type, ...event });
    },
  };
}
