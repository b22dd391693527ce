/** Real Server-Sent Events clients (the `eventsource` package) on a harness served over loopback HTTP. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import type { TicketEvent } from '../../api/events/model.js';
import type { Harness } from './harness.js';

export interface Served {
  base: string;
  close(): Promise<void>;
}

/** Serves the harness's app on a loopback port. */
export async function serve(h: Harness): Promise<Served> {
  const server: Server = createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Listener {
  source: EventSource;
  events: TicketEvent[];
  /** The SSE `id:` of each message, in the order they came. */
  sseIds: string[];
  /** Resolves once an event matching `test` arrived (or has already). */
  until(test: (e: TicketEvent) => boolean): Promise<TicketEvent>;
  opened(): Promise<void>;
  /** Error events so far: a stream that ended (the client reconnects) or a refused connection. */
  errors: number;
  /** Resolves with the HTTP status that made the client give up (it reconnected and was refused). */
  refused(): Promise<number | undefined>;
  close(): void;
}

/**
 * Opens a stream, with `token` as its Bearer credential (none: the path carries a stream token). `base` may be a function: the client then follows it on every (re)connection, as a client
 * behind a load balancer reaches whichever task is up.
 */
export function listen(base: string | (() => string), path: string, token?: string): Listener {
  const events: TicketEvent[] = [];
  const sseIds: string[] = [];
  const waiters: { test: (e: TicketEvent) => boolean; resolve: (e: TicketEvent) => void }[] = [];
  const at = () => (typeof base === 'string' ? base : base());
  const source = new EventSource(`http://stream.invalid${path}`, {
    fetch: (input, init) => {
      const url = new URL(String(input));
      return fetch(`${at()}${url.pathname}${url.search}`, {
        ...init,
        headers: { ...(init?.headers as Record<string, string>), ...(token && { authorization: `Bearer ${token}` }) },
      });
    },
  });
  let errors = 0;
  let gaveUp: ((code: number | undefined) => void) | undefined;
  const refusal = new Promise<number | undefined>((resolve) => {
    gaveUp = resolve;
  });
  source.addEventListener('error', (event) => {
    errors++;
    if (source.readyState === EventSource.CLOSED) gaveUp?.(event.code);
  });
  source.onmessage = (message) => {
    const event = JSON.parse(message.data) as TicketEvent;
    events.push(event);
    sseIds.push(message.lastEventId);
    for (const w of [...waiters]) {
      if (w.test(event)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  };
  return {
    source,
    events,
    sseIds,
    until(test) {
      const found = events.find(test);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
    opened() {
      if (source.readyState === EventSource.OPEN) return Promise.resolve();
      return new Promise((resolve) => source.addEventListener('open', () => resolve(), { once: true }));
    },
    get errors() {
      return errors;
    },
    refused: () => refusal,
    close: () => source.close(),
  };
}
