/** Agents and support tools: the ticket queue and everything done to a ticket. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { actsAsAgent, hasRole } from '../auth/principal.js';
import type { AuthService } from '../auth/service.js';
import type { CannedResponses } from '../canned/service.js';
import { forbidden, preconditionFailed, preconditionRequired } from '../errors.js';
import { EventPage } from '../events/model.js';
import {
  BridgeTicketCreated,
  CreateBridgeTicket,
  NewTicketMessage,
  TicketMessageCreated,
} from '../tickets/bridge-model.js';
import {
  ListQuery,
  MessagePage,
  PageQuery,
  Ticket,
  TicketId,
  TicketPage,
  TicketPatch,
  TicketWithMessages,
} from '../tickets/model.js';
import { ANY_VERSION, type TicketService } from '../tickets/service.js';
import { etag } from '../tickets/views.js';
import { type Idempotency, REPLAYED_HEADER } from './idempotency.js';
import type { RateLimiters } from './rate-limits.js';
import { ApiRouter } from './route.js';

const TicketParams = z.strictObject({ ticket_id: TicketId });
const IfMatchHeader = z.object({
  'if-match': z.string().meta({
    description: 'The ETag of the version you read (such as "3"), or * to change whatever version is current',
    example: '"3"',
  }),
});
const NOT_FOUND = 'No ticket with this id';
const EXTERNAL_ID_TAKEN =
  "The external_message_id is already stored elsewhere (another ticket, or as a ticket's opening)";

/**
 * `"7"` or `W/"7"` -> 7; `*` matches any current version (RFC 9110 13.1.1); a value naming no version can
 * never match (412); none at all is a 428.
 */
function expectedVersion(ifMatch: string | undefined): number | typeof ANY_VERSION {
  if (!ifMatch) throw preconditionRequired();
  if (ifMatch.trim() === '*') return ANY_VERSION;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(ifMatch.trim());
  if (!match) throw preconditionFailed('If-Match must be the ETag of the ticket, such as "3", or *');
  return Number(match[1]);
}

export function ticketsRouter(
  registry: OpenAPIRegistry,
  auth: AuthService,
  tickets: TicketService,
  limits: RateLimiters,
  idempotency: Idempotency | undefined,
  /** Canned responses an agent sends by id (`canned_response_id`). */
  canned: CannedResponses,
) {
  const tags: ['tickets'] = ['tickets'];
  return new ApiRouter(registry, auth, idempotency)
    .add(
      {
        method: 'post',
        path: '/v1/tickets',
        operationId: 'createCustomerTicket',
        summary: 'Open a ticket for a customer of a channel (bridges: WhatsApp, SMS, e-mail gateways)',
        description:
          "The customer's identity is stored on the ticket (customer_name, customer_email, customer_phone, " +
          'customer_external_id) and the assistant answers as on the public route. No access token: the key is the ' +
          'credential. With `external_message_id`, a ticket is opened once per id and key: a repeat is answered ' +
          'with the ticket, message and answer stored the first time, marked `Idempotent-Replayed: true`. ' +
          'Rate limited per API key.',
        tags,
        access: 'integration',
        body: CreateBridgeTicket,
        idempotent: true,
        callerLimits: [limits.callerTickets],
        success: {
          status: 201,
          description: 'Ticket opened (or, for a repeated external_message_id, the one opened the first time)',
          schema: BridgeTicketCreated,
          headers: ['Location', 'ETag'],
        },
        errors: { 409: EXTERNAL_ID_TAKEN },
      },
      async ({ body, principal, res }) => {
        const { customer, ...rest } = body;
        const { replayed, ...created } = await tickets.createForCustomer(
          {
            ...rest,
            customer_external_id: customer.external_id,
            ...(customer.name && { customer_name: customer.name }),
            ...(customer.email && { customer_email: customer.email }),
            ...(customer.phone && { customer_phone: customer.phone }),
          },
          principal,
        );
        if (replayed) res.setHeader(REPLAYED_HEADER, 'true');
        res.setHeader('ETag', etag(created.ticket.version));
        res.status(201).location(`/v1/tickets/${created.ticket.ticket_id}`).json(created);
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/tickets',
        operationId: 'listTickets',
        summary: 'List tickets, newest first',
        description:
          'Filters combine freely (each combination is one index query). Pages are at most `limit` tickets; ' +
          'pass `next_cursor` back as `cursor`, with the same filters, for the next page.',
        tags,
        access: 'agent',
        query: ListQuery,
        success: { status: 200, description: 'A page of tickets', schema: TicketPage },
      },
      async ({ query, res }) => {
        res.json(await tickets.list(query));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/tickets/{ticket_id}',
        operationId: 'getTicket',
        summary:
          'Read a ticket with the first page of its conversation (oldest first; the rest through its messages route)',
        tags,
        access: 'agent',
        params: TicketParams,
        success: { status: 200, description: 'The ticket', schema: TicketWithMessages, headers: ['ETag'] },
        errors: { 404: NOT_FOUND },
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
        operationId: 'updateTicket',
        summary: 'Change status, priority, assignee or tags',
        description:
          'Agents may assign a ticket only to themselves (or unassign their own); managers assign to anyone.',
        tags,
        access: 'agent',
        params: TicketParams,
        headers: IfMatchHeader,
        body: TicketPatch,
        success: { status: 200, description: 'The updated ticket', schema: Ticket, headers: ['ETag'] },
        errors: {
          403: 'An agent assigning a ticket to someone else',
          404: NOT_FOUND,
          409: 'The ticket kept changing while a change under If-Match: * was applied; retry',
          412: true,
          428: true,
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
        operationId: 'listTicketMessages',
        summary: 'Read the conversation a page at a time, oldest first, internal notes included',
        tags,
        access: 'agent',
        params: TicketParams,
        query: PageQuery,
        success: { status: 200, description: 'A page of messages', schema: MessagePage },
        errors: { 404: NOT_FOUND },
      },
      async ({ params, query, res }) => {
        res.json(await tickets.messages(params.ticket_id, query));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/tickets/{ticket_id}/messages',
        operationId: 'addTicketMessage',
        summary:
          'Reply to the customer, add an internal note (internal: true), or write as the customer (from: "customer", bridges)',
        description:
          'A reply moves a new ticket to in_progress (and assigns it to its author if unassigned) and reopens a ' +
          'closed one (`ticket.reopened`); a pending ticket stays pending. An internal note changes nothing. ' +
          'Send `content`, or `canned_response_id` for a canned response with `{{customer.name}}` and ' +
          '`{{agent.name}}` filled in (an unknown id is a 400). ' +
          'Integration keys (and managers, admins) write as the customer with `from: "customer"`: stored as the ' +
          "customer's message, answered by the assistant as on the public route, rate limited per API key, and " +
          'with `external_message_id` stored once per id and key (a repeat gets the first answer, marked ' +
          '`Idempotent-Replayed: true`). Integration keys cannot reply as agents.',
        tags,
        access: 'agent',
        bridges: true,
        params: TicketParams,
        body: NewTicketMessage,
        idempotent: true,
        callerLimits: [limits.callerCustomerMessages],
        success: {
          status: 201,
          description: "Message stored; the ETag is the ticket's version after it",
          schema: TicketMessageCreated,
          headers: ['ETag'],
        },
        errors: {
          403: 'An agent writing as the customer, or an integration key replying as an agent',
          404: NOT_FOUND,
          409: `The ticket is closed (a customer's message); or ${EXTERNAL_ID_TAKEN[0]?.toLowerCase()}${EXTERNAL_ID_TAKEN.slice(1)}`,
        },
      },
      async ({ params, body, principal, res }) => {
        if (body.from === 'customer') {
          if (!hasRole(principal, 'integration')) {
            throw forbidden('Writing as the customer needs an integration key (or a manager or admin)');
          }
          const { replayed, ...out } = await tickets.addBridgeMessage(params.ticket_id, body, principal);
          if (replayed) res.setHeader(REPLAYED_HEADER, 'true');
          res.setHeader('ETag', etag(out.ticket.version));
          res.status(201).json(out);
          return;
        }
        if (!actsAsAgent(principal)) {
          throw forbidden('An integration key writes as the customer (from: "customer"); it cannot reply as an agent');
        }
        // A canned response becomes the content, placeholders filled, before the reply use case runs.
        const content =
          body.canned_response_id === undefined
            ? (body.content as string)
            : await canned.render(body.canned_response_id, {
                customerName: await tickets.customerName(params.ticket_id),
                agentName: principal.name,
              });
        const out = await tickets.addAgentMessage(params.ticket_id, { ...body, content }, principal);
        res.setHeader('ETag', etag(out.ticket.version));
        res.status(201).json(out);
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/tickets/{ticket_id}/suggest-reply',
        operationId: 'suggestReply',
        summary: 'A reply the assistant suggests from the conversation (internal notes excluded); not stored',
        tags,
        access: 'agent',
        params: TicketParams,
        success: {
          status: 200,
          description: 'The suggestion',
          schema: z.object({ suggestion: z.string() }).meta({ id: 'ReplySuggestion' }),
        },
        errors: {
          404: NOT_FOUND,
          // assistant_not_configured: no model on this service (a setting; retrying will not help).
          409: 'The assistant is not configured on this service (`assistant_not_configured`)',
          503: 'The assistant is unavailable (see Retry-After)',
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
        operationId: 'getTicketHistory',
        summary: 'What happened to the ticket: its events from the event log, oldest first, a page at a time',
        tags,
        access: 'agent',
        params: TicketParams,
        query: PageQuery,
        success: { status: 200, description: 'A page of events, oldest first', schema: EventPage },
        errors: { 404: NOT_FOUND },
      },
      async ({ params, query, res }) => {
        res.json(await tickets.history(params.ticket_id, query));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/tickets/{ticket_id}',
        operationId: 'deleteTicket',
        summary:
          'Delete a ticket and its conversation (refuses new messages at once; its event log keeps ticket.deleted)',
        tags,
        access: 'admin',
        params: TicketParams,
        success: { status: 204, description: 'Deleted' },
        errors: { 404: NOT_FOUND },
      },
      async ({ params, principal, res }) => {
        await tickets.delete(params.ticket_id, principal);
        res.status(204).end();
      },
    ).router;
}
