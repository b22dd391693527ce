/** Customers: open a ticket, read it, write on it, close it. The ticket's access token is the credential. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { AuthService } from '../auth/service.js';
import {
  CreatePublicTicket,
  NewCustomerMessage,
  PageQuery,
  PublicMessage,
  PublicMessagePage,
  PublicTicket,
  TicketId,
} from '../tickets/model.js';
import type { TicketService } from '../tickets/service.js';
import type { RateLimiters } from './rate-limits.js';
import { errors, ok } from './responses.js';
import { ApiRouter } from './route.js';

const TicketParams = z.strictObject({ ticket_id: TicketId });
const AssistantAnswer = PublicMessage.optional().meta({
  description:
    "The assistant's answer (also in the conversation): a smart reply, the model's reply, or the note that an agent will answer",
});
const Created = z
  .object({
    ticket: PublicTicket,
    access_token: z.string().meta({ description: 'Shown once: the bearer credential for this ticket' }),
    assistant_message: AssistantAnswer,
  })
  .meta({ id: 'PublicTicketCreated' });

export function publicRouter(
  registry: OpenAPIRegistry,
  auth: AuthService,
  tickets: TicketService,
  limits: RateLimiters,
) {
  const tags = ['public'];
  return new ApiRouter(registry, auth)
    .add(
      {
        method: 'post',
        path: '/v1/public/tickets',
        summary: 'Open a ticket',
        tags,
        access: 'none',
        limits: [limits.ticketCreation],
        body: CreatePublicTicket,
        responses: { ...ok(201, 'Ticket opened', Created), ...errors(400, 413, 415, 429) },
      },
      async ({ body, res }) => {
        const created = await tickets.createPublic(body);
        res.status(201).location(`/v1/public/tickets/${created.ticket.ticket_id}`).json(created);
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/public/tickets/{ticket_id}',
        summary: 'Read my ticket with the first page of its conversation (oldest first)',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        responses: { ...ok(200, 'The ticket', PublicTicket), ...errors(400, 401, 404) },
      },
      async ({ params, bearer, res }) => {
        res.json(await tickets.getPublic(params.ticket_id, bearer));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/public/tickets/{ticket_id}/messages',
        summary: 'Read my conversation a page at a time, oldest first',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        query: PageQuery,
        responses: { ...ok(200, 'A page of messages', PublicMessagePage), ...errors(400, 401, 404) },
      },
      async ({ params, bearer, query, res }) => {
        res.json(await tickets.publicMessages(params.ticket_id, bearer, query));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/public/tickets/{ticket_id}/messages',
        summary: 'Write on my ticket',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        limits: [limits.customerMessages],
        body: NewCustomerMessage,
        responses: {
          ...ok(201, 'Message stored', z.object({ message: PublicMessage, assistant_message: AssistantAnswer })),
          ...errors(400, 401, 404, 409, 413, 415, 429),
        },
      },
      async ({ params, bearer, body, res }) => {
        res.status(201).json(await tickets.addCustomerMessage(params.ticket_id, bearer, body.content));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/public/tickets/{ticket_id}/close',
        summary: 'Close my ticket',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        responses: { ...ok(200, 'The closed ticket', PublicTicket), ...errors(400, 401, 404) },
      },
      async ({ params, bearer, res }) => {
        res.json(await tickets.closePublic(params.ticket_id, bearer));
      },
    ).router;
}
