/**
 * Process entry: config, logger, the app on an HTTP server, graceful shutdown with terminus.
 * On SIGTERM: readiness answers 503 for SHUTDOWN_DELAY_MS while the listener still accepts (every response
 * now closes its connection), then the listener closes, in-flight requests finish (up to SHUTDOWN_GRACE_MS),
 * clients are released, exit 0.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTerminus } from '@godaddy/terminus';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { KEEP_ALIVE_TIMEOUT_MS, SHUTDOWN_GRACE_MS } from './contract.js';
import { connectionDrain } from './http/connection-drain.js';
import { createLogger } from './logger.js';
import { buildRuntime, StartupError } from './runtime.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const runtime = await buildRuntime(config, logger);
  const drain = connectionDrain(createApp(runtime.deps));
  const server = createServer(
    {
      // A whole request (headers and body) within REQUEST_TIMEOUT_MS, or 408 and the socket closes: a body
      // trickled a byte at a time cannot hold a connection for minutes. Node counts from the request's first
      // byte, not from an idle keep-alive socket, so this does not fight the keep-alive timeout below.
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: Math.min(config.http.requestTimeoutMs, KEEP_ALIVE_TIMEOUT_MS + 1000),
      // How often those deadlines are checked (Node's default, 30 s, would let a request live up to twice as long).
      connectionsCheckingInterval: Math.min(1000, config.http.requestTimeoutMs),
    },
    drain.listener,
  );
  // Outlive the ALB's idle timeout, or it reuses a socket the server already closed (a 502).
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Beyond this many open sockets new ones are closed at once: memory stays bounded under a connection flood.
  server.maxConnections = config.http.maxConnections;

  createTerminus(server, {
    signals: ['SIGTERM', 'SIGINT'],
    timeout: SHUTDOWN_GRACE_MS,
    useExit0: true,
    beforeShutdown: async () => {
      logger.info('shutting down: readiness now fails', { delay_ms: config.shutdownDelayMs });
      runtime.lifecycle.shuttingDown = true;
      drain.start();
      await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
    },
    onSignal: () => runtime.close(),
    onShutdown: async () => {
      logger.info('stopped');
      await new Promise((resolve) => {
        logger.on('finish', resolve);
        logger.end();
      });
    },
    logger: (message, err) => logger.error(message, { err }),
  });

  server.on('error', (err) => {
    logger.error('server error', { err });
    process.exit(1);
  });
  server.listen(config.port, config.http.host, () => {
    const { port, address } = server.address() as AddressInfo;
    logger.info('listening', { port, host: address, dynamodb: config.dynamo.mode, tables: config.tables });
  });
}

main().catch((err: Error) => {
  // One line, naming what is wrong; no stack for configuration mistakes.
  const known = err instanceof ConfigError || err instanceof StartupError;
  process.stderr.write(`${known ? err.message : `Start-up failed: ${err.stack ?? err.message}`}\n`);
  process.exit(1);
});
