/**
 * Server-Sent Events on an Express response: `id:` is the event id (the client's `Last-Event-ID` when it
 * reconnects), `data:` the event as JSON; a comment line every heartbeat keeps proxies from closing an idle
 * stream. The stream ends cleanly (the response ends) when the service stops, the reader's credential no longer
 * holds, or a customer's ticket is deleted; the client's reconnection then meets the usual checks.
 */
import type { Request, Response } from 'express';
import type { TicketEvent } from '../events/model.js';
import type { LiveStreams, StreamFilter } from '../events/streams.js';

/** Event ids are `<ISO time>#<hex>`; anything else in Last-Event-ID is ignored (the stream starts live). */
const EVENT_ID = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{1,32}$/;

export async function serveStream(
  req: Request,
  res: Response,
  streams: LiveStreams,
  filter: StreamFilter,
  heartbeatMs: number,
  /** The reader's credential still holds (an agent's stream): asked periodically, false ends the stream. */
  holds?: () => Promise<boolean>,
): Promise<void> {
  const header = req.get('last-event-id')?.trim();
  const lastEventId = header && EVENT_ID.test(header) ? header : undefined;
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  req.socket.setNoDelay(true);
  // Clients wait a second before reconnecting (to another task when this one stops).
  res.write('retry: 1000\n\n');

  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    stop?.();
    res.end();
  };
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
  heartbeat.unref();
  let stop: (() => void) | undefined;
  res.on('close', finish);
  const send = (event: TicketEvent) => {
    if (!ended) res.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  try {
    stop = await streams.open(filter, lastEventId, { send, end: finish, ...(holds && { holds }) });
  } catch {
    // The log did not answer during the replay: end the stream; the client reconnects and resumes.
    finish();
    return;
  }
  if (ended) stop();
}
