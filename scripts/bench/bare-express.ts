/**
 * The baseline of `npm run bench:http`: a bare Express 5 app answering what the service's liveness route
 * answers, with the settings of the fastify/benchmarks Express entry (no ETag, no X-Powered-By) and nothing else.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/health/live', (_req, res) => {
  res.json({ status: 'alive' });
});
app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
