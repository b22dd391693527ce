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
import type { Idempotency } from './idempotency.js';
import type { RateLimiters } from './rate-limits.js';
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
  idempotency?: Idempotency,
) {
  const tags: ['public'] = ['public'];
  const NOT_OPENED = 'No such ticket, or the token does not open it';
  return new ApiRouter(registry, auth, idempotency)
    .add(
      {
        method: 'post',
        path: '/v1/public/tickets',
        operationId: 'createPublicTicket',
        summary: 'Open a ticket',
        description:
          'The answer holds the ticket access token, shown once: keep it to read and write on the ticket. ' +
          'Rate limited per client address.',
        tags,
        access: 'none',
        limits: [limits.ticketCreation],
        idempotent: true,
        body: CreatePublicTicket,
        success: { status: 201, description: 'Ticket opened', schema: Created, headers: ['Location'] },
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
        operationId: 'getPublicTicket',
        summary: 'Read my ticket with the first page of its conversation (oldest first)',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        success: { status: 200, description: 'The ticket', schema: PublicTicket },
        errors: { 404: NOT_OPENED },
      },
      async ({ params, bearer, res }) => {
        res.json(await tickets.getPublic(params.ticket_id, bearer));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/public/tickets/{ticket_id}/messages',
        operationId: 'listPublicTicketMessages',
        summary: 'Read my conversation a page at a time, oldest first',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        query: PageQuery,
        success: { status: 200, description: 'A page of messages, internal notes left out', schema: PublicMessagePage },
        errors: { 404: NOT_OPENED },
      },
      async ({ params, bearer, query, res }) => {
        res.json(await tickets.publicMessages(params.ticket_id, bearer, query));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/public/tickets/{ticket_id}/messages',
        operationId: 'addPublicMessage',
        summary: 'Write on my ticket',
        description:
          'Rate limited per client address. A pending ticket (waiting for the customer) goes back to in_progress; a ticket closed less than REOPEN_WINDOW_DAYS (default 7) ago is reopened; after that the message is refused (409 `ticket_closed`): open a new ticket.',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        limits: [limits.customerMessages],
        idempotent: true,
        body: NewCustomerMessage,
        success: {
          status: 201,
          description: 'Message stored',
          schema: z
            .object({ message: PublicMessage, assistant_message: AssistantAnswer })
            .meta({ id: 'PublicMessageCreated' }),
        },
        errors: {
          404: NOT_OPENED,
          409: 'The ticket was closed longer ago than the reopen window (`ticket_closed`): open a new ticket',
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
        operationId: 'closePublicTicket',
        summary: 'Close my ticket',
        tags,
        access: 'ticket_token',
        params: TicketParams,
        success: { status: 200, description: 'The closed ticket', schema: PublicTicket },
        errors: { 404: NOT_OPENED },
      },
      async ({ params, bearer, res }) => {
        res.json(await tickets.closePublic(params.ticket_id, bearer));
      },
    ).router;
}
