/**
 * What a DynamoDB failure means for the caller. Transient: a later retry may get past it (timeouts,
 * throttling, the engine unreachable, a transaction that lost to a concurrent one), so the service is
 * unavailable for a moment, not broken; the HTTP layer answers 503 with Retry-After. Everything else is a bug
 * or a refused condition, which the repositories turn into domain outcomes.
 */
import { TransactionCancelled } from './transaction.js';

const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TransactionInProgressException',
  'TransactionConflictException',
  'InternalServerError',
  'ServiceUnavailable',
  'ResourceNotFoundException', // a missing table: the deployment is not ready
]);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

export function isTransient(err: unknown): boolean {
  if (err instanceof TransactionCancelled) return err.contended;
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  return (
    TRANSIENT_NAMES.has(e.name ?? '') || TRANSIENT_CODES.has(e.code ?? '') || (e.$metadata?.httpStatusCode ?? 0) >= 500
  );
}

export const isConditionFailure = (err: unknown) => (err as Error)?.name === 'ConditionalCheckFailedException';
