/**
 * Connection draining for shutdown. Once draining starts, every response carries `Connection: close`
 * (including those of requests already in progress), so keep-alive clients move to new connections while
 * the listener still accepts, instead of writing their next request on a socket the server is about to end.
 * A request that still arrives on a connection the server has already ended is dropped unread: running it
 * would store its effect while its answer could never be delivered (the client would retry a write that
 * was done).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

export interface Drain {
  /** The server's request listener, wrapping the app's. */
  listener: RequestListener;
  /** Starts draining (idempotent). */
  start(): void;
  readonly draining: boolean;
}

export function connectionDrain(handler: (req: IncomingMessage, res: ServerResponse) => void): Drain {
  const inProgress = new Set<ServerResponse>();
  let draining = false;
  return {
    listener(req, res) {
      if (draining) {
        if (req.socket.writableEnded) {
          req.socket.destroy();
          return;
        }
        res.setHeader('Connection', 'close');
      } else {
        inProgress.add(res);
        res.once('close', () => inProgress.delete(res));
      }
      handler(req, res);
    },
    start() {
      draining = true;
      for (const res of inProgress) if (!res.headersSent) res.setHeader('Connection', 'close');
      inProgress.clear();
    },
    get draining() {
      return draining;
    },
  };
}
