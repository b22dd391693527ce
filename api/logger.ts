/**
 * One winston JSON logger to stdout. Secrets never reach a line: a redaction format runs before `json()`
 * on every key of the line, however deep, and on string values that look like bearer credentials.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import winston from 'winston';

export type Logger = winston.Logger;

const SECRET_KEY = /(authorization|cookie|password|secret|token|api[-_]?key|access[-_]?key|signing|credential)/i;
const BEARER = /\b(Bearer|Basic)\s+[^\s"',]+/gi;
const API_KEY_VALUE = /\bfk_[A-Za-z0-9]+\.[A-Za-z0-9_-]+/g;
export const REDACTED = '[redacted]';

/** The per-request child logger (carries `request_id`), kept for the duration of the request. */
const requestScope = new AsyncLocalStorage<{ logger: Logger; requestId: string; key: string }>();

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.replace(BEARER, `$1 ${REDACTED}`).replace(API_KEY_VALUE, REDACTED);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { name: value.name, message: redactValue(value.message, depth + 1), stack: value.stack };
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redactValue(v, depth + 1);
  return out;
}

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    info[key] = SECRET_KEY.test(key) ? REDACTED : redactValue(info[key], 0);
  }
  return info;
});

/**
 * Every line written while a request is served carries its `request_id`, whichever logger wrote it (the
 * assistant's, the worker's, a library's): read from the request's async context at write time.
 */
const requestIdFromContext = winston.format((info) => {
  const requestId = (info as { [WRITTEN_IN]?: string })[WRITTEN_IN] ?? requestScope.getStore()?.requestId;
  if (requestId && info.request_id === undefined) info.request_id = requestId;
  return info;
});

/**
 * The request a line was written in, stamped when the line is written: winston's stream formats a line
 * later when its transport pushes back, by then outside the request's async context.
 */
const WRITTEN_IN = Symbol('request_id');

function stampRequestContext(logger: Logger): Logger {
  const write = logger.write.bind(logger);
  logger.write = ((info: winston.LogEntry, ...rest: unknown[]) => {
    const requestId = requestScope.getStore()?.requestId;
    if (requestId && info && typeof info === 'object') (info as { [WRITTEN_IN]?: string })[WRITTEN_IN] = requestId;
    return (write as (...args: unknown[]) => boolean)(info, ...rest);
  }) as typeof logger.write;
  return logger;
}

export interface LoggerOptions {
  level: string;
  /** Where lines go (tests capture them); stdout by default. */
  stream?: Writable;
  silent?: boolean;
}

export function createLogger({ level, stream, silent }: LoggerOptions): Logger {
  const transport = stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console();
  return stampRequestContext(
    winston.createLogger({
      level,
      silent,
      defaultMeta: { service: 'freeda-api' },
      format: winston.format.combine(
        winston.format.errors({ stack: true }),
        winston.format.timestamp(),
        requestIdFromContext(),
        redact(),
        winston.format.json(),
      ),
      transports: [transport],
      exitOnError: false,
    }),
  );
}

export function runWithRequestScope<T>(scope: { logger: Logger; requestId: string }, fn: () => T): T {
  return requestScope.run({ ...scope, key: `${scope.requestId}:${randomUUID()}` }, fn);
}

/**
 * A key unique to the current request (its id plus a value drawn by the service, since a client may send
 * the same X-Request-Id twice); what the request's transaction tokens derive from. Undefined outside one.
 */
export function currentRequestKey(): string | undefined {
  return requestScope.getStore()?.key;
}

export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

/** The request's logger inside a request, the given base logger elsewhere. */
export function scopedLogger(base: Logger): Logger {
  return requestScope.getStore()?.logger ?? base;
}
