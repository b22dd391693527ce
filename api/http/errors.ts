/**
 * The one error shape: `{"error": {"code", "message", "request_id", "details"?}}`. Client mistakes get their
 * 4xx, an unavailable dependency a 503 with Retry-After, anything else a 500 without internals.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isTransient } from '../db/errors.js';
import { AppError } from '../errors.js';
import { currentRequestId, type Logger, scopedLogger } from '../logger.js';

/** body-parser's error types and what they mean for the client. */
const BODY_ERRORS: Record<string, AppError> = {
  'entity.parse.failed': new AppError(400, 'malformed_json', 'The request body is not valid JSON'),
  'entity.too.large': new AppError(413, 'payload_too_large', 'The request body is too large'),
  'encoding.unsupported': new AppError(415, 'unsupported_media_type', 'Unsupported content encoding'),
  'charset.unsupported': new AppError(415, 'unsupported_media_type', 'Unsupported charset; send UTF-8 JSON'),
  'request.aborted': new AppError(400, 'request_aborted', 'The request was aborted'),
  'request.size.invalid': new AppError(400, 'invalid_request', 'The request body does not match its Content-Length'),
};

/**
 * Client errors raised by Express's own layers before our code runs: a path whose percent-encoding is broken
 * (the router decoding a parameter), a body that does not decompress as its Content-Encoding says
 * (body-parser marks those with a 4xx status and `expose`, the http-errors convention Express follows).
 */
function expressClientError(err: unknown): AppError | undefined {
  const e = err as { status?: unknown; expose?: unknown; code?: unknown } | undefined;
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status === undefined || status < 400 || status > 499) return undefined;
  if (err instanceof URIError) {
    return new AppError(400, 'invalid_request', 'The request path is not valid: malformed percent-encoding');
  }
  if (e?.expose !== true) return undefined;
  if (typeof e.code === 'string' && /^(Z_|ERR_BROTLI|ERR__)/.test(e.code)) {
    return new AppError(400, 'malformed_body', 'The request body could not be decoded as its Content-Encoding says');
  }
  return new AppError(status, 'invalid_request', STATUS_CODES[status] ?? 'Invalid request');
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const bodyType = (err as { type?: string })?.type;
  if (bodyType && BODY_ERRORS[bodyType]) return BODY_ERRORS[bodyType];
  const clientError = expressClientError(err);
  if (clientError) return clientError;
  if (isTransient(err))
    return new AppError(503, 'unavailable', 'The service is temporarily unavailable; retry shortly', undefined, 2);
  return new AppError(500, 'internal', 'Internal error');
}

export function errorBody(error: AppError, requestId: string | undefined) {
  return {
    error: {
      code: error.code,
      message: error.message,
      request_id: requestId ?? null,
      ...(error.details && { details: error.details }),
    },
  };
}

export function errorHandler(baseLogger: Logger): ErrorRequestHandler {
  return (err, _req, res, next) => {
    const error = toAppError(err);
    const log = scopedLogger(baseLogger);
    if (error.status >= 500) {
      const e = err as { name?: string; message?: string; stack?: string; code?: string; $metadata?: unknown };
      log.error('request failed', { err: { name: e?.name, message: e?.message, code: e?.code, stack: e?.stack } });
    }
    if (res.headersSent) return next(err);
    if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    if (error.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    res.status(error.status).json(errorBody(error, currentRequestId()));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) =>
  next(new AppError(404, 'not_found', `No route for ${req.method} ${req.path}`));
