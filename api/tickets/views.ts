/** Stored items -> what each audience may see. Storage internals and credentials never leave this file. */
import type { Message, PublicTicket, Ticket, TicketWithMessages } from './model.js';
import type { MessageItem, TicketItem, TicketRecord } from './repository.js';

export function conversation(record: TicketRecord): Message[] {
  const { ticket, messages } = record;
  const all: Message[] = messages.map(messageView);
  if (ticket.initial_message)
    all.unshift(messageView({ ...ticket.initial_message, ticket_id: ticket.ticket_id, sk: '' }));
  return all.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.message_id.localeCompare(b.message_id));
}

export function messageView(m: MessageItem): Message {
  return {
    message_id: m.message_id,
    type: m.type,
    content: m.content,
    author_name: m.author_name,
    ...(m.author_email && { author_email: m.author_email }),
    created_at: m.created_at,
  };
}

export function ticketView(t: TicketItem): Ticket {
  return {
    ticket_id: t.ticket_id,
    status: t.status,
    priority: t.priority,
    channel: t.channel,
    ...(t.customer_name !== undefined && { customer_name: t.customer_name }),
    ...(t.customer_email !== undefined && { customer_email: t.customer_email }),
    ...(t.assigned_to !== undefined && { assigned_to: t.assigned_to }),
    tags: t.tags ?? [],
    created_at: t.created_at,
    updated_at: t.updated_at,
    ...(t.closed_at !== undefined && { closed_at: t.closed_at }),
    ...(t.resolution_seconds !== undefined && { resolution_seconds: t.resolution_seconds }),
    ...(t.analytics !== undefined && { analytics: t.analytics }),
    version: t.version,
  };
}

export function ticketWithMessagesView(record: TicketRecord): TicketWithMessages {
  return { ...ticketView(record.ticket), messages: conversation(record) };
}

/** The customer's view: internal notes, analytics, assignment and agents' e-mails are left out. */
export function publicTicketView(record: TicketRecord): PublicTicket {
  const t = record.ticket;
  return {
    ticket_id: t.ticket_id,
    status: t.status,
    channel: t.channel,
    ...(t.customer_name !== undefined && { customer_name: t.customer_name }),
    created_at: t.created_at,
    updated_at: t.updated_at,
    ...(t.closed_at !== undefined && { closed_at: t.closed_at }),
    messages: conversation(record)
      .filter((m) => m.type !== 'internal')
      .map(({ author_email: _hidden, ...m }) => m),
  };
}

export const etag = (version: number) => `"${version}"`;
