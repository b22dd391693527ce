/**
 * Errors the domain raises and the HTTP layer maps to the one error shape
 * `{"error": {"code", "message", "request_id", "details"?}}`. The domain never sees req/res.
 */
export interface ErrorDetail {
  path: string;
  message: string;
}

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    /** Seconds after which a retry may succeed (429, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) =>
  new AppError(400, 'invalid_request', message, details);
export const unauthorized = (message = 'Authentication required') => new AppError(401, 'unauthorized', message);
export const forbidden = (message = 'Your role does not allow this action') => new AppError(403, 'forbidden', message);
export const notFound = (what = 'Resource') => new AppError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new AppError(409, 'conflict', message);
export const preconditionFailed = (message = 'The resource changed since you read it; read it again and retry') =>
  new AppError(412, 'precondition_failed', message);
export const preconditionRequired = (message = 'This request needs an If-Match header with the ETag you read') =>
  new AppError(428, 'precondition_required', message);
export const unavailable = (message = 'A dependency is unavailable; retry shortly', retryAfterSeconds = 2) =>
  new AppError(503, 'unavailable', message, undefined, retryAfterSeconds);
