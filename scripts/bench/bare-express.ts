/**
 * The baseline of `npm run bench:http`: a bare Express 5 app answering what the service's liveness route
 * answers, with the settings of the fastify/benchmarks Express entry (no ETag, no X-Powered-By) and nothing else.
 */
import express from 'express';
import { commandLine } from '../lib/command-line.js';

commandLine(
  `
Usage: PORT=<port> node --import tsx scripts/bench/bare-express.ts

The baseline server of npm run bench:http (which starts it): a bare Express 5 app answering
GET /health/live on 127.0.0.1:$PORT (default 3000) until SIGTERM.

Options:
  --help               show this help
`,
  {},
);

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/health/live', (_req, res) => {
  res.json({ status: 'alive' });
});
app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
