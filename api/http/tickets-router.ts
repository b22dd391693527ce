/** Agents and support tools: the ticket queue and everything done to a ticket. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { AuthService } from '../auth/service.js';
import { preconditionFailed, preconditionRequired } from '../errors.js';
import { EventPage } from '../events/model.js';
import {
  ListQuery,
  Message,
  MessagePage,
  NewAgentMessage,
  PageQuery,
  Ticket,
  TicketId,
  TicketPage,
  TicketPatch,
  TicketWithMessages,
} from '../tickets/model.js';
import type { TicketService } from '../tickets/service.js';
import { etag } from '../tickets/views.js';
import { errors, ok } from './responses.js';
import { ApiRouter } from './route.js';

const TicketParams = z.strictObject({ ticket_id: TicketId });
const IfMatchHeader = z.object({ 'if-match': z.string().meta({ description: 'The ETag of the version you read' }) });

/** `"7"` or `W/"7"` -> 7; a value naming no version can never match (412); none at all is a 428. */
function expectedVersion(ifMatch: string | undefined): number {
  if (!ifMatch) throw preconditionRequired();
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(ifMatch.trim());
  if (!match) throw preconditionFailed('If-Match must be the ETag of the ticket, such as "3"');
  return Number(match[1]);
}

export function ticketsRouter(registry: OpenAPIRegistry, auth: AuthService, tickets: TicketService) {
  const tags = ['tickets'];
  return new ApiRouter(registry, auth)
    .add(
      {
        method: 'get',
        path: '/v1/tickets',
        summary: 'List tickets, newest first (every filter combination is one index query)',
        tags,
        access: 'agent',
        query: ListQuery,
        responses: { ...ok(200, 'A page of tickets', TicketPage), ...errors(400, 401, 403) },
      },
      async ({ query, res }) => {
        res.json(await tickets.list(query));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/tickets/{ticket_id}',
        summary:
          'Read a ticket with the first page of its conversation (oldest first; the rest through its messages route)',
        tags,
        access: 'agent',
        params: TicketParams,
        responses: { ...ok(200, 'The ticket', TicketWithMessages, ['ETag']), ...errors(400, 401, 403, 404) },
      },
      async ({ params, res }) => {
        const ticket = await tickets.get(params.ticket_id);
        res.setHeader('ETag', etag(ticket.version));
        res.json(ticket);
      },
    )
    .add(
      {
        method: 'patch',
        path: '/v1/tickets/{ticket_id}',
        summary: 'Change status, priority, assignee or tags',
        tags,
        access: 'agent',
        params: TicketParams,
        headers: IfMatchHeader,
        body: TicketPatch,
        responses: {
          ...ok(200, 'The updated ticket', Ticket, ['ETag']),
          ...errors(400, 401, 403, 404, 412, 413, 415, 428),
        },
      },
      async ({ params, body, principal, req, res }) => {
        const version = expectedVersion(req.get('if-match'));
        const ticket = await tickets.patch(params.ticket_id, version, body, principal);
        res.setHeader('ETag', etag(ticket.version));
        res.json(ticket);
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/tickets/{ticket_id}/messages',
        summary: 'Read the conversation a page at a time, oldest first, internal notes included',
        tags,
        access: 'agent',
        params: TicketParams,
        query: PageQuery,
        responses: { ...ok(200, 'A page of messages', MessagePage), ...errors(400, 401, 403, 404) },
      },
      async ({ params, query, res }) => {
        res.json(await tickets.messages(params.ticket_id, query));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/tickets/{ticket_id}/messages',
        summary: 'Reply to the customer, or add an internal note (internal: true)',
        tags,
        access: 'agent',
        params: TicketParams,
        body: NewAgentMessage,
        responses: {
          ...ok(201, 'Message stored', z.object({ message: Message, ticket: Ticket })),
          ...errors(400, 401, 403, 404, 413, 415),
        },
      },
      async ({ params, body, principal, res }) => {
        const out = await tickets.addAgentMessage(params.ticket_id, body, principal);
        res.setHeader('ETag', etag(out.ticket.version));
        res.status(201).json(out);
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/tickets/{ticket_id}/suggest-reply',
        summary: 'A reply the assistant suggests from the conversation (internal notes excluded); not stored',
        tags,
        access: 'agent',
        params: TicketParams,
        responses: {
          ...ok(200, 'The suggestion', z.object({ suggestion: z.string() }).meta({ id: 'ReplySuggestion' })),
          ...errors(400, 401, 403, 404, 503),
        },
      },
      async ({ params, res }) => {
        res.json(await tickets.suggestReply(params.ticket_id));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/tickets/{ticket_id}/history',
        summary: 'What happened to the ticket: its events from the event log, oldest first, a page at a time',
        tags,
        access: 'agent',
        params: TicketParams,
        query: PageQuery,
        responses: { ...ok(200, 'A page of events', EventPage), ...errors(400, 401, 403, 404) },
      },
      async ({ params, query, res }) => {
        res.json(await tickets.history(params.ticket_id, query));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/tickets/{ticket_id}',
        summary:
          'Delete a ticket and its conversation (refuses new messages at once; its event log keeps ticket.deleted)',
        tags,
        access: 'admin',
        params: TicketParams,
        responses: { 204: { description: 'Deleted' }, ...errors(400, 401, 403, 404) },
      },
      async ({ params, principal, res }) => {
        await tickets.delete(params.ticket_id, principal);
        res.status(204).end();
      },
    ).router;
}
