/**
 * `npm run db:local [-- --port 8000 --data-dir .data/standalone]`: DynamoDB Local in the foreground, for
 * tools and checks that need an endpoint of their own (the image check, a second service against one
 * database). In memory unless `--data-dir` is given; stops on Ctrl-C or SIGTERM. Then:
 *   DYNAMODB_ENDPOINT=http://127.0.0.1:8000 npm run db:create-tables
 */

import { LocalEngineError, startLocalEngine } from '../api/db/local-engine.js';
import { commandLine } from './lib/command-line.js';

const USAGE = `Usage: npm run db:local [-- --port 8000] [--data-dir DIR]

Starts AWS's DynamoDB Local (needs Java 17+) in the foreground until Ctrl-C or SIGTERM.
  --port N        port to listen on (default 8000; DynamoDB Local listens on every interface)
  --data-dir DIR  keep the data in DIR (default: in memory, gone when it stops)
  --help          this text
Then create the tables:  DYNAMODB_ENDPOINT=http://127.0.0.1:<port> npm run db:create-tables
`;

async function main(): Promise<number> {
  const values = commandLine(USAGE, {
    port: { type: 'string', default: '8000' },
    'data-dir': { type: 'string' },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`--port: expected a port number from 1 to 65535 (got ${JSON.stringify(values.port)})\n`);
    return 2;
  }
  const engine = await startLocalEngine({ port, path: values['data-dir'] });
  process.stdout.write(`DynamoDB Local answers on ${engine.endpoint} (${values['data-dir'] ?? 'in memory'})\n`);
  const stop = () => void engine.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // The engine's process does not hold this one's event loop (api/db/local-engine.ts): this does.
  const alive = setInterval(() => undefined, 60_000);
  const code = await engine.exited;
  clearInterval(alive);
  // Stopped on request: the JVM's answer to SIGTERM (143) is a clean stop here.
  return code === 0 || code === 143 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err instanceof LocalEngineError ? err.message : (err.stack ?? err.message)}\n`);
    process.exit(1);
  },
);
