/**
 * A closed-loop load generator that keeps a record of every single request: `connections` workers on one
 * keep-alive agent, each sending its next request as soon as the previous one ends. Unlike a throughput tool
 * it tells, per request, when it was written, on a new or a reused connection, and whether any response came
 * back, which is what a graceful-shutdown check needs.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

export interface LoadRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Attempt {
  id: string;
  worker: number;
  /** Epoch milliseconds (fractional) when the request was handed to the socket, and when it ended. */
  sentAt: number;
  doneAt: number;
  /** Whether the request went out on a connection that had already carried one. */
  reused: boolean;
  status?: number;
  /** The response asked the client not to reuse the connection. */
  connectionClose?: boolean;
  /** The response's Retry-After header, if any. */
  retryAfter?: string;
  /** Set when no complete response came back: the socket error code or message. */
  error?: string;
  /** Response bytes had started to arrive before the error (a cut response). */
  partial?: boolean;
  /** Local port of the connection (matches the server's view of the client). */
  localPort?: number;
  connectedAt?: number;
}

export const now = () => performance.timeOrigin + performance.now();

export interface LoadOptions {
  host?: string;
  port: number;
  connections: number;
  /** The request a worker sends; `id` is unique per request (use it as x-request-id and as content). */
  next: (worker: number, id: string) => LoadRequest;
  /** A worker stops once its request was refused (the listener is gone); default true. */
  stopOnRefused?: boolean;
}

export interface Load {
  attempts: Attempt[];
  /** Stops sending and resolves once every request in flight has ended. */
  stop(): Promise<Attempt[]>;
}

let runCount = 0;

export function startLoad({ host = '127.0.0.1', port, connections, next, stopOnRefused = true }: LoadOptions): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const attempts: Attempt[] = [];
  const run = ++runCount;
  let seq = 0;
  let stopped = false;

  const once = (worker: number): Promise<Attempt> =>
    new Promise((resolve) => {
      const id = `load-${run}-${worker}-${++seq}`;
      const spec = next(worker, id);
      const attempt: Attempt = { id, worker, sentAt: now(), doneAt: 0, reused: false };
      const finish = () => {
        attempt.doneAt = now();
        resolve(attempt);
      };
      const req = request(
        {
          host,
          port,
          agent,
          method: spec.method,
          path: spec.path,
          headers: {
            'x-request-id': id,
            ...(spec.body !== undefined && {
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(spec.body)),
            }),
            ...spec.headers,
          },
        },
        (res) => {
          attempt.partial = true;
          res.on('data', () => undefined);
          res.on('end', () => {
            attempt.partial = false;
            attempt.status = res.statusCode;
            attempt.connectionClose = /close/i.test(String(res.headers.connection ?? ''));
            if (res.headers['retry-after'] !== undefined) attempt.retryAfter = String(res.headers['retry-after']);
            finish();
          });
          res.on('error', (err: NodeJS.ErrnoException) => {
            attempt.error = err.code ?? err.message;
            finish();
          });
        },
      );
      req.on('socket', (socket) => {
        attempt.sentAt = now();
        attempt.reused = req.reusedSocket;
        const port = () => {
          attempt.localPort = socket.localPort;
          attempt.connectedAt = now();
        };
        if (socket.localPort) port();
        else socket.once('connect', port);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (attempt.doneAt) return;
        attempt.error = err.code ?? err.message;
        finish();
      });
      req.end(spec.body);
    });

  const workers = Array.from({ length: connections }, async (_, worker) => {
    while (!stopped) {
      const attempt = await once(worker);
      attempts.push(attempt);
      if (attempt.error === 'ECONNREFUSED' && stopOnRefused) return;
      // After a failure, do not spin: the next attempt opens a fresh connection.
      if (attempt.error) await new Promise((r) => setTimeout(r, 5));
    }
  });

  return {
    attempts,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return attempts;
    },
  };
}

/**
 * Watches a listener by opening a fresh TCP connection every `everyMs`: the listener closed between the last
 * connection it accepted and the first one it refused.
 */
export function watchListener(port: number, everyMs = 5, host = '127.0.0.1') {
  let lastAccepted = 0;
  let firstRefused = 0;
  let timer: NodeJS.Timeout | undefined;
  const probe = () => {
    const started = now();
    const socket = connect(port, host);
    socket.on('connect', () => {
      if (!firstRefused) lastAccepted = Math.max(lastAccepted, started);
      socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' && !firstRefused) firstRefused = now();
    });
    if (!firstRefused) timer = setTimeout(probe, everyMs);
  };
  probe();
  return {
    get lastAccepted() {
      return lastAccepted;
    },
    get firstRefused() {
      return firstRefused;
    },
    stop: () => clearTimeout(timer),
  };
}
