/**
 * Process entry: config, logger, the app on an HTTP server, graceful shutdown with terminus.
 * On SIGTERM: readiness answers 503 for SHUTDOWN_DELAY_MS while the listener still accepts (every response
 * now closes its connection), then the listener closes, in-flight requests finish (up to SHUTDOWN_GRACE_MS),
 * clients are released, exit 0.
 * An uncaught exception or unhandled rejection is one JSON error line, then the same graceful shutdown,
 * exit 1: the process neither dies mid-request nor lives on in an unknown state.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTerminus } from '@godaddy/terminus';
import { createApp } from './app.js';
import { startupBanner } from './banner.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { KEEP_ALIVE_TIMEOUT_MS, SHUTDOWN_GRACE_MS } from './contract.js';
import { connectionDrain } from './http/connection-drain.js';
import { createLogger, type Logger } from './logger.js';
import { buildRuntime } from './runtime.js';
import { StartupError } from './startup-error.js';

/** Fails early, before DynamoDB Local starts or a key is printed, when another process holds the port. */
async function checkPortFree(port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(portError(port, err)));
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

function portError(port: number, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE') {
    return new StartupError(`port ${port} is already in use by another process: stop it, or set PORT to a free port`);
  }
  if (err.code === 'EACCES') {
    return new StartupError(`port ${port} needs privileges this user does not have: set PORT to 1024 or above`);
  }
  return err;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(portError(port, err)));
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * The process-level error policy. Before the server exists a fatal error simply ends start-up (exit 1,
 * after `cleanup`); afterwards it triggers the graceful shutdown, which ends with exit 1.
 */
function fatalErrorPolicy(logger: Logger) {
  let shutdown: (() => void) | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let handling = false;
  let logged = 0;
  const onFatal = (message: string) => (reason: unknown) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    // Capped: should logging itself be what fails, its errors must not feed each other forever.
    if (logged++ < 10) logger.error(message, { err: { name: err.name, message: err.message, stack: err.stack } });
    process.exitCode = 1;
    if (handling) return; // already on the way out
    handling = true;
    // Whatever state the error left behind, the process ends: a shutdown that hangs is cut short.
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS + 15_000).unref();
    if (shutdown) shutdown();
    else void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(1));
  };
  process.on('uncaughtException', onFatal('uncaught exception'));
  process.on('unhandledRejection', onFatal('unhandled rejection'));
  return {
    get fatal() {
      return handling;
    },
    beforeServer(fn: () => Promise<void>) {
      cleanup = fn;
    },
    onServer(fn: () => void) {
      shutdown = fn;
    },
  };
}

async function main(): Promise<void> {
  const config: Config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const policy = fatalErrorPolicy(logger);
  // The reader of stdout is gone (a closed pipe): no line can be written any more, and that alone is no
  // reason to stop serving or to fail a shutdown in progress.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    logger.silent = true;
  });
  await checkPortFree(config.port);
  const runtime = await buildRuntime(config, logger);
  policy.beforeServer(() => runtime.close());
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

  // Bounded: a stdout nobody reads any more (its reader died) never finishes, and the process must still end.
  const flushLogs = () =>
    Promise.race([
      new Promise((resolve) => {
        logger.on('finish', resolve);
        logger.end();
      }),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ]);
  createTerminus(server, {
    signals: ['SIGTERM', 'SIGINT'],
    timeout: SHUTDOWN_GRACE_MS,
    useExit0: true,
    beforeShutdown: async () => {
      logger.info('shutting down: readiness now fails', { delay_ms: config.shutdownDelayMs });
      runtime.lifecycle.shuttingDown = true;
      drain.start();
      // Streams never end by themselves: end them now, and their clients reconnect to another task.
      await runtime.hub.close();
      await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
    },
    onSignal: () => runtime.close(),
    onShutdown: async () => {
      logger.info('stopped', policy.fatal ? { exit_code: 1 } : {});
      await flushLogs();
      // terminus ends with exit 0; a shutdown caused by a fatal error must not look like a clean stop.
      if (policy.fatal) process.exit(1);
    },
    logger: (message, err) => logger.error(message, { err }),
  });
  // terminus only listens to signals; a fatal error takes the same path.
  policy.onServer(() => process.emit('SIGTERM', 'SIGTERM'));

  let port: number;
  try {
    port = await listen(server, config.port, config.http.host);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  server.on('error', (err) => logger.error('server error', { err }));
  if (!config.production) process.stdout.write(startupBanner({ port, config, bootstrapKey: runtime.bootstrapKey }));
  logger.info('listening', { port, host: config.http.host, dynamodb: config.dynamo.mode, tables: config.tables });
}

main().catch((err: Error) => {
  // One line, naming what is wrong; no stack for mistakes the user can fix.
  const known = err instanceof ConfigError || err instanceof StartupError;
  process.stderr.write(`${known ? err.message : `Start-up failed: ${err.stack ?? err.message}`}\n`);
  process.exit(1);
});
