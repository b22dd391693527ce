/**
 * One live stream's feed: the events it missed (from `Last-Event-ID`, read from the log), then the live ones
 * from the hub, filtered for its reader and each sent once. Knows nothing of HTTP: the router writes what
 * `send` receives as Server-Sent Events.
 */
import type { EventHub } from './hub.js';
import type { EventType, TicketEvent } from './model.js';

export interface StreamFilter {
  ticketId?: string;
  types?: readonly EventType[];
  /** A customer's stream: public events only, in their public form. */
  audience: 'agent' | 'customer';
}

export interface StreamSink {
  send(event: TicketEvent): void;
  /**
   * The stream must end now: the service stops (the client reconnects elsewhere and resumes), the reader lost
   * its access, or the customer's ticket was deleted (the reconnection is then refused).
   */
  end(): void;
  /** Whether the reader still holds the credential that opened the stream (see `Subscriber.holds`). */
  holds?(): Promise<boolean>;
}

const PUBLIC_ACTORS = new Set(['customer', 'assistant', 'system']);
/** What a customer never sees: the assignee is an agent's e-mail address. */
const PRIVATE_FIELDS = new Set(['assigned_to']);

function publicChanges(changes: unknown): Record<string, unknown> | undefined {
  if (!changes || typeof changes !== 'object') return undefined;
  const kept = Object.entries(changes).filter(([field]) => !PRIVATE_FIELDS.has(field));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

/** The event as a customer may see it, or undefined: no internal notes, no analytics, no agents' e-mails. */
export function publicEvent(event: TicketEvent): TicketEvent | undefined {
  const actor = PUBLIC_ACTORS.has(event.actor) ? event.actor : 'agent';
  switch (event.type) {
    case 'ticket.created':
      // Status, priority, channel and the first message's id: nothing the customer does not know.
      return { ...event, actor };
    case 'ticket.deleted':
      return { ...event, actor, data: {} };
    case 'message.created': {
      if (event.data.internal === true) return undefined;
      const { changes, ...rest } = event.data;
      const kept = publicChanges(changes);
      return { ...event, actor, data: { ...rest, ...(kept && { changes: kept }) } };
    }
    case 'ticket.updated': {
      const kept = publicChanges(event.data.changes);
      return kept ? { ...event, actor, data: { changes: kept } } : undefined;
    }
    case 'ticket.reopened': {
      // The status the customer sees moves: told, without the assignee.
      const kept = publicChanges(event.data.changes);
      const messageId = event.data.message_id;
      return {
        ...event,
        actor,
        data: { ...(kept && { changes: kept }), ...(messageId !== undefined && { message_id: messageId }) },
      };
    }
    default:
      return undefined;
  }
}

export function viewFor(filter: StreamFilter, event: TicketEvent): TicketEvent | undefined {
  if (filter.ticketId && event.ticket_id !== filter.ticketId) return undefined;
  if (filter.types && !filter.types.includes(event.type)) return undefined;
  return filter.audience === 'customer' ? publicEvent(event) : event;
}

export class LiveStreams {
  constructor(
    private readonly hub: EventHub,
    private readonly lookbackMs: number,
  ) {}

  get count(): number {
    return this.hub.size;
  }

  /** Starts a stream; returns its stop function (the client went away). */
  async open(filter: StreamFilter, lastEventId: string | undefined, sink: StreamSink): Promise<() => void> {
    const sent = new Set<string>();
    let replaying = lastEventId !== undefined;
    let over = false;
    const buffered: TicketEvent[] = [];
    const emit = (event: TicketEvent) => {
      if (over || sent.has(event.id) || (lastEventId !== undefined && event.id <= lastEventId)) return;
      const view = viewFor(filter, event);
      sent.add(event.id);
      if (view) sink.send(view);
      // Nothing more comes of a deleted ticket, and its token opens nothing now: the customer's stream ends
      // (whatever its `types`), and the client's reconnection is refused.
      if (filter.audience === 'customer' && event.type === 'ticket.deleted' && event.ticket_id === filter.ticketId) {
        over = true;
        sink.end();
        return;
      }
      // Ids older than the window cannot come again from the hub.
      if (sent.size > 10_000) {
        const floor = new Date(Date.now() - 2 * this.lookbackMs).toISOString();
        for (const id of sent) if (id < floor) sent.delete(id);
      }
    };
    const stop = this.hub.subscribe({
      since: lastEventId ?? new Date().toISOString(),
      deliver: (event) => (replaying ? buffered.push(event) : emit(event)),
      end: () => sink.end(),
      ...(sink.holds && { holds: sink.holds }),
    });
    if (lastEventId !== undefined) {
      for await (const event of this.hub.since(lastEventId, filter.ticketId)) {
        emit(event);
        if (over) break;
      }
      replaying = false;
      for (const event of buffered.splice(0)) emit(event);
    }
    return stop;
  }
}
