/** Integrations and agents' screens: the change feed (and the live streams) of the event log. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { AuthService } from '../auth/service.js';
import { STREAM_TOKEN_TTL_SECONDS } from '../auth/tokens.js';
import type { ChangeFeed } from '../events/feed.js';
import { EventTypes, FeedPage, FeedQuery } from '../events/model.js';
import type { LiveStreams } from '../events/streams.js';
import { TicketId } from '../tickets/model.js';
import { ApiRouter } from './route.js';
import { serveStream } from './sse.js';

export interface EventsDeps {
  feed: ChangeFeed;
  streams: LiveStreams;
  heartbeatMs: number;
  /** Throws the 404 of a ticket the token does not open. */
  checkTicketToken(ticketId: string, token: string): Promise<void>;
  /** Throws the 404 of a ticket that does not exist (any more). */
  checkTicket(ticketId: string): Promise<void>;
}

const StreamTokenParam = z
  .string()
  .optional()
  .meta({ description: 'A stream token, in place of the Authorization header (EventSource cannot set headers)' });
const StreamQuery = z.strictObject({
  ticket_id: TicketId.optional(),
  types: EventTypes.optional(),
  stream_token: StreamTokenParam,
});
const PublicStreamQuery = z.strictObject({ types: EventTypes.optional(), stream_token: StreamTokenParam });
const StreamToken = z
  .object({
    token: z.string().meta({ description: 'Pass as `?stream_token=`; opens this stream only; never logged' }),
    expires_in: z.number().int().meta({ description: 'Seconds during which it opens (or reopens) the stream' }),
  })
  .meta({ id: 'StreamToken' });
const TicketParams = z.strictObject({ ticket_id: TicketId });
const STREAM_DESCRIPTION =
  'Server-Sent Events: `id:` is the event id, `data:` the event as JSON; a comment line every heartbeat. A client that reconnects with `Last-Event-ID` first receives every event it missed (within retention), then live ones; an event may come twice (deduplicate by id).';

export function eventsRouter(registry: OpenAPIRegistry, auth: AuthService, deps: EventsDeps) {
  const tags: ['events'] = ['events'];
  return new ApiRouter(registry, auth)
    .add(
      {
        method: 'get',
        path: '/v1/events/stream',
        operationId: 'streamEvents',
        summary: 'Live stream of every event (Server-Sent Events), optionally of one ticket or some types',
        description: `${STREAM_DESCRIPTION} The reader's access is checked again every few seconds: once the account is deactivated, deleted, demoted or logged out, or the API key revoked, the stream ends and its reconnection is refused.`,
        tags,
        access: 'agent',
        streamToken: true,
        query: StreamQuery,
        success: { status: 200, description: 'An event stream', mediaType: 'text/event-stream' },
      },
      async ({ query, principal, req, res }) => {
        const filter = { audience: 'agent' as const, ticketId: query.ticket_id, types: query.types };
        // Held open for hours: the credential is checked again every few seconds, not only now.
        const holds = () => auth.stillHolds(principal, 'agent');
        await serveStream(req, res, deps.streams, filter, deps.heartbeatMs, holds);
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/events/stream-token',
        operationId: 'createEventStreamToken',
        summary: "A short-lived token that opens the agents' event stream as `?stream_token=` (for EventSource)",
        tags,
        access: 'agent',
        success: { status: 200, description: 'The token', schema: StreamToken },
      },
      async ({ principal, res }) => {
        res.json({ token: await auth.issueStreamToken({ principal }), expires_in: STREAM_TOKEN_TTL_SECONDS });
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/public/tickets/{ticket_id}/stream-token',
        operationId: 'createPublicTicketStreamToken',
        summary: "A short-lived token that opens my ticket's event stream as `?stream_token=` (for EventSource)",
        tags: ['public'],
        access: 'ticket_token',
        params: TicketParams,
        success: { status: 200, description: 'The token', schema: StreamToken },
        errors: { 404: 'No such ticket, or not its token' },
      },
      async ({ params, bearer, res }) => {
        await deps.checkTicketToken(params.ticket_id, bearer);
        const token = await auth.issueStreamToken({ ticketId: params.ticket_id });
        res.json({ token, expires_in: STREAM_TOKEN_TTL_SECONDS });
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/public/tickets/{ticket_id}/events',
        operationId: 'streamPublicTicketEvents',
        summary: "Live stream of my ticket's public events (Server-Sent Events): no internal notes, no analytics",
        description: `${STREAM_DESCRIPTION} The stream ends after \`ticket.deleted\`; a reconnection then gets 404.`,
        tags: ['public'],
        access: 'ticket_token',
        streamToken: true,
        params: TicketParams,
        query: PublicStreamQuery,
        success: { status: 200, description: 'An event stream', mediaType: 'text/event-stream' },
        errors: { 404: 'No such ticket, or not its token' },
      },
      async ({ params, query, bearer, ticketByStreamToken, req, res }) => {
        // A stream token proves the ticket once was the caller's; it must also still exist.
        if (ticketByStreamToken) await deps.checkTicket(params.ticket_id);
        else await deps.checkTicketToken(params.ticket_id, bearer);
        const filter = { audience: 'customer' as const, ticketId: params.ticket_id, types: query.types };
        await serveStream(req, res, deps.streams, filter, deps.heartbeatMs);
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/events',
        operationId: 'listEvents',
        summary:
          'The change feed: settled events in order, a page at a time; continue from next_cursor, now or later, and nothing is missed or repeated',
        tags,
        access: 'agent',
        query: FeedQuery,
        success: { status: 200, description: 'A page of the feed', schema: FeedPage },
      },
      async ({ query, res }) => {
        res.json(await deps.feed.page(query));
      },
    ).router;
}
