/** Stored items -> what each audience may see. Storage internals and credentials never leave this file. */
import type { Message, PublicTicket, Ticket, TicketWithMessages } from './model.js';
import type { NewMessage as MessageItem, NewTicket as TicketItem } from './repository.js';

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

/** A message as the customer sees it: never an agent's e-mail (internal notes are never read for them). */
export function publicMessageView(m: MessageItem): Omit<Message, 'author_email'> {
  const { author_email: _hidden, ...view } = messageView(m);
  return view;
}

export function ticketView(t: TicketItem): Ticket {
  return {
    ticket_id: t.ticket_id,
    status: t.status,
    priority: t.priority,
    channel: t.channel,
    ...(t.customer_name !== undefined && { customer_name: t.customer_name }),
    ...(t.customer_email !== undefined && { customer_email: t.customer_email }),
    ...(t.customer_phone !== undefined && { customer_phone: t.customer_phone }),
    ...(t.customer_external_id !== undefined && { customer_external_id: t.customer_external_id }),
    ...(t.assigned_to !== undefined && { assigned_to: t.assigned_to }),
    tags: t.tags ?? [],
    created_at: t.created_at,
    updated_at: t.updated_at,
    ...(t.waiting_since !== undefined && { waiting_since: t.waiting_since }),
    ...(t.closed_at !== undefined && { closed_at: t.closed_at }),
    ...(t.resolution_seconds !== undefined && { resolution_seconds: t.resolution_seconds }),
    ...(t.pending_since !== undefined && { pending_since: t.pending_since }),
    ...(t.pending_seconds !== undefined && { pending_seconds: t.pending_seconds }),
    ...(t.analytics !== undefined && { analytics: t.analytics }),
    version: t.version,
  };
}

export function ticketWithMessagesView(
  t: TicketItem,
  messages: MessageItem[],
  nextCursor: string | null,
): TicketWithMessages {
  return { ...ticketView(t), messages: messages.map(messageView), messages_next_cursor: nextCursor };
}

/** The customer's view: internal notes, analytics, assignment and agents' e-mails are left out. */
export function publicTicketView(t: TicketItem, messages: MessageItem[], nextCursor: string | null): PublicTicket {
  return {
    ticket_id: t.ticket_id,
    status: t.status,
    channel: t.channel,
    ...(t.customer_name !== undefined && { customer_name: t.customer_name }),
    created_at: t.created_at,
    updated_at: t.updated_at,
    ...(t.closed_at !== undefined && { closed_at: t.closed_at }),
    messages: messages.filter((m) => m.type !== 'internal').map(publicMessageView),
    messages_next_cursor: nextCursor,
  };
}

export const etag = (version: number) => `"${version}"`;
