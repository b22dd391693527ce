/** First middleware: a request id (accepted from `x-request-id` when well-formed), a scoped logger, an access log. */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { type Logger, runWithRequestScope } from '../logger.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    const started = process.hrtime.bigint();
    const requestLogger = logger.child({ request_id: requestId });
    res.on('finish', () => {
      // The route template, not the URL: ids stay out of the metric dimension, tokens out of the logs.
      const route = req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      requestLogger.info('request', {
        method: req.method,
        route,
        status: res.statusCode,
        latency_ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
      });
    });
    runWithRequestScope({ logger: requestLogger, requestId }, next);
  };
}
