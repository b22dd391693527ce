/**
 * Ticket use cases for customers and agents. Knows the rules and the repository, never HTTP, never the
 * table's layout. Every change is one transaction (the repository returns its writes, `commit` sends them)
 * holding the change's one event; a change planned by the server (closing, an agent's first reply) is planned
 * again on a fresh read when a concurrent write got there first.
 */
import { randomUUID } from 'node:crypto';
import { hasRole, type Principal } from '../auth/principal.js';
import type { Write } from '../db/transaction.js';
import { AppError, badRequest, conflict, forbidden, notFound, preconditionFailed, unavailable } from '../errors.js';
import type { EventLog } from '../events/log.js';
import { type EventPage, newEvent } from '../events/model.js';
import type { CursorCodec } from './cursor.js';
import { normalisePhone } from './customers.js';
import { newAccessToken, newTicketId, tokenMatches } from './ids.js';
import {
  type CreatePublicTicket,
  DEFAULT_PAGE_SIZE,
  type ListQuery,
  type Message,
  type MessagePage,
  type PageQuery,
  type PublicMessagePage,
  type PublicTicket,
  type Ticket,
  type TicketPage,
  type TicketPatch,
  type TicketWithMessages,
} from './model.js';
import {
  MESSAGE_PAGE_KEYS,
  type NewMessage,
  type NewTicket,
  type TicketItem,
  TicketRepository,
  WriteConflict,
} from './repository.js';
import { type Change, type FieldChanges, isNoop, planChange } from './rules.js';
import { messageView, publicMessageView, publicTicketView, ticketView, ticketWithMessagesView } from './views.js';

/**
 * Customer identities a creation may carry besides the public form's name and e-mail (a bridge knows the
 * customer's phone or account id); stored on the ticket and looked up by `GET /v1/tickets?customer=`.
 */
export interface CustomerIdentity {
  customer_phone?: string;
  customer_external_id?: string;
}

/** `If-Match: *`: any current version matches. */
export const ANY_VERSION = '*';
/** Messages in a ticket read and in a conversation page by default. */
export const DEFAULT_MESSAGES_PAGE = 50;
/** Messages the assistant reads back to answer or suggest: the recent end of the conversation only. */
export const ASSISTANT_CONTEXT_MESSAGES = 20;
const CUSTOMER_ACTOR = 'customer';
const ASSISTANT_ACTOR = 'assistant';
/** Server-planned changes planned again after a concurrent write, at most. */
const MAX_ATTEMPTS = 5;

/**
 * What the ticket use cases need from the assistant (api/assistant). Without one, tickets work the same,
 * with no automatic answer and no analysis.
 */
export interface TicketAssistant {
  /** Author name of the assistant's messages. */
  readonly authorName: string;
  /** The write recording that the ticket needs (re)analysis, committed with the customer's message. */
  analysisRequest(ticketId: string, now: string): Write | undefined;
  /** Starts that analysis in the background; never awaited by a request. */
  analyseSoon(ticketId: string): void;
  /** The answer to the conversation's last message (the customer's), or none; never throws. */
  replyTo(conversation: Message[]): Promise<string | undefined>;
  /** The answer could not be stored: reported, while the customer's own message stays stored. */
  replyNotStored(ticketId: string, err: unknown): void;
  /** A reply an agent may send (not stored); an AppError 503 with Retry-After when unavailable. */
  suggestReply(conversation: Message[]): Promise<string>;
}

export interface TicketServiceDeps {
  repository: TicketRepository;
  events: EventLog;
  assistant?: TicketAssistant;
  cursors: CursorCodec;
  /** Whether an agent account exists (assignments must name one). */
  userExists: (email: string) => Promise<boolean>;
  clock?: () => Date;
  /** Draws ticket ids (tests make it collide). */
  newId?: () => string;
}

/** The ticket as it is once `change` is committed (the list-index attributes aside, which views never show). */
function applied(current: TicketItem, change: Change, now: string): TicketItem {
  const next: TicketItem = { ...current, ...change.set, updated_at: now, version: current.version + 1 };
  for (const f of change.remove) delete next[f];
  return next;
}

const later = (a: string, b: string) => (a > b ? a : b);
const justAfter = (at: string) => new Date(Date.parse(at) + 1).toISOString();

export class TicketService {
  private readonly repo: TicketRepository;
  private readonly now: () => string;

  constructor(private readonly deps: TicketServiceDeps) {
    this.repo = deps.repository;
    const clock = deps.clock ?? (() => new Date());
    this.now = () => clock().toISOString();
  }

  private analysisWrites(ticketId: string, now: string): Write[] {
    const write = this.deps.assistant?.analysisRequest(ticketId, now);
    return write ? [write] : [];
  }

  // ---- customers -------------------------------------------------------------------------------------------

  /**
   * Stores the ticket with its first message, its event and its pending analysis (one transaction), then
   * the assistant's answer (within its budget); the analysis runs after the response.
   */
  async createPublic(
    input: CreatePublicTicket & CustomerIdentity,
  ): Promise<{ ticket: PublicTicket; access_token: string; assistant_message?: Message }> {
    const { token, hash } = newAccessToken();
    const author = input.customer_name ?? 'Customer';
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const ticketId = (this.deps.newId ?? newTicketId)();
      const ticket: NewTicket = {
        ticket_id: ticketId,
        status: 'new',
        priority: 'normal',
        channel: input.channel,
        ...(input.customer_name && { customer_name: input.customer_name }),
        ...(input.customer_email && { customer_email: input.customer_email.toLowerCase() }),
        ...(input.customer_phone && { customer_phone: normalisePhone(input.customer_phone) }),
        ...(input.customer_external_id && { customer_external_id: input.customer_external_id }),
        tags: [],
        created_at: now,
        updated_at: now,
        version: 1,
        access_token_hash: hash,
      };
      const first = this.newMessage(ticketId, 'customer', input.message, author, now);
      const event = newEvent('ticket.created', ticketId, CUSTOMER_ACTOR, now, {
        status: 'new',
        priority: 'normal',
        channel: input.channel,
        message_id: first.message_id,
      });
      try {
        await this.repo.commit(`create#${attempt}`, [
          ...this.repo.createTicket(ticket, first, event),
          ...this.analysisWrites(ticketId, now),
        ]);
      } catch (err) {
        if (err instanceof WriteConflict && err.reason === 'id_taken') continue;
        throw err;
      }
      const reply = await this.answer(ticket, [first]);
      this.deps.assistant?.analyseSoon(ticketId);
      const messages = reply ? [first, reply] : [first];
      return {
        ticket: publicTicketView(ticket, messages, null),
        access_token: token,
        ...(reply && { assistant_message: messageView(reply) }),
      };
    }
    throw new AppError(503, 'unavailable', 'could not allocate a ticket id; retry', undefined, 1);
  }

  private newMessage(
    ticketId: string,
    type: NewMessage['type'],
    content: string,
    author: string,
    at: string,
    authorEmail?: string,
  ): NewMessage {
    return {
      ticket_id: ticketId,
      message_id: randomUUID(),
      type,
      content,
      author_name: author,
      ...(authorEmail && { author_email: authorEmail }),
      created_at: at,
    };
  }

  private messageEvent(message: NewMessage, actor: string, changes?: Change) {
    return newEvent('message.created', message.ticket_id, actor, message.created_at, {
      message_id: message.message_id,
      type: message.type,
      author_name: message.author_name,
      internal: message.type === 'internal',
      ...(changes && !isNoop(changes) && { changes: changes.changes }),
    });
  }

  /**
   * The ticket item if the token opens it; a wrong token and an unknown ticket are the same 404. Only the
   * ticket item is read: no message is touched before the token is checked.
   */
  private async openWithToken(ticketId: string, token: string): Promise<TicketItem> {
    const ticket = await this.repo.getTicket(ticketId);
    if (!ticket || !tokenMatches(token, ticket.access_token_hash)) throw notFound('Ticket');
    return ticket;
  }

  /** Throws the 404 of a ticket this token does not open (a customer's event stream). */
  async checkToken(ticketId: string, token: string): Promise<void> {
    await this.openWithToken(ticketId, token);
  }

  async getPublic(ticketId: string, token: string): Promise<PublicTicket> {
    const ticket = await this.openWithToken(ticketId, token);
    const page = await this.messagePage(ticketId, { shared: true });
    return publicTicketView(ticket, page.items, page.next_cursor);
  }

  /** The customer's conversation, a page at a time, oldest first, internal notes left out. */
  async publicMessages(ticketId: string, token: string, query: PageQuery): Promise<PublicMessagePage> {
    await this.openWithToken(ticketId, token);
    const page = await this.messagePage(ticketId, { shared: true, ...query });
    return { items: page.items.map(publicMessageView), next_cursor: page.next_cursor };
  }

  private async messagePage(
    ticketId: string,
    { shared, limit = DEFAULT_MESSAGES_PAGE, cursor }: { shared: boolean } & PageQuery,
  ): Promise<{ items: NewMessage[]; next_cursor: string | null }> {
    const fingerprint = `messages:${ticketId}:${shared ? 'public' : 'agent'}`;
    const startKey = cursor ? this.deps.cursors.decode(cursor, fingerprint, MESSAGE_PAGE_KEYS) : undefined;
    const page = await this.repo.messagePage(ticketId, { limit, startKey, shared });
    return {
      items: page.items,
      next_cursor: page.lastKey ? this.deps.cursors.encode(fingerprint, page.lastKey) : null,
    };
  }

  /**
   * Stores the message with its event and the pending analysis (one transaction, refused on a closed or
   * deleted ticket), then the assistant's answer (within its budget); the analysis runs after the response.
   */
  async addCustomerMessage(
    ticketId: string,
    token: string,
    content: string,
  ): Promise<{ message: Message; assistant_message?: Message }> {
    const ticket = await this.openWithToken(ticketId, token);
    if (ticket.status === 'closed') throw closedTicket();
    const now = this.now();
    const message = this.newMessage(ticketId, 'customer', content, ticket.customer_name ?? 'Customer', now);
    try {
      await this.repo.commit('customer-message', [
        ...this.repo.addMessage(message, this.messageEvent(message, CUSTOMER_ACTOR)),
        ...this.analysisWrites(ticketId, now),
      ]);
    } catch (err) {
      if (err instanceof WriteConflict) throw err.reason === 'closed' ? closedTicket() : notFound('Ticket');
      throw err;
    }
    const reply = await this.answer(ticket, undefined);
    this.deps.assistant?.analyseSoon(ticketId);
    return { message: messageView(message), ...(reply && { assistant_message: messageView(reply) }) };
  }

  /**
   * The assistant's answer to the conversation's end, stored after it; none without an assistant, once an
   * agent has replied, or without an answer. `conversation` is given when the caller has it all (a new
   * ticket); otherwise only its recent end is read.
   */
  private async answer(ticket: NewTicket, conversation: NewMessage[] | undefined): Promise<NewMessage | undefined> {
    const assistant = this.deps.assistant;
    if (!assistant || ticket.agent_replied_at) return undefined;
    const recent = conversation ?? (await this.repo.recentMessages(ticket.ticket_id, ASSISTANT_CONTEXT_MESSAGES));
    const history = recent.map(messageView);
    const text = await assistant.replyTo(history);
    if (!text) return undefined;
    // Strictly after the message it answers, so the conversation's order holds even for an instant answer.
    const after = history[history.length - 1]?.created_at ?? '';
    let at = this.now();
    if (at <= after) at = justAfter(after);
    const reply = this.newMessage(ticket.ticket_id, 'assistant', text, assistant.authorName, at);
    try {
      await this.repo.commit('assistant-reply', this.repo.addMessage(reply, this.messageEvent(reply, ASSISTANT_ACTOR)));
      return reply;
    } catch (err) {
      assistant.replyNotStored(ticket.ticket_id, err);
      return undefined;
    }
  }

  async closePublic(ticketId: string, token: string): Promise<PublicTicket> {
    await this.openWithToken(ticketId, token);
    const ticket = await this.changeWithRetry(ticketId, () => ({ status: 'closed' }), CUSTOMER_ACTOR, 'close');
    const page = await this.messagePage(ticketId, { shared: true });
    return publicTicketView(ticket, page.items, page.next_cursor);
  }

  // ---- agents and tools ------------------------------------------------------------------------------------

  /**
   * One page of a list: every supported combination of filters is one index Query (docs/data.md); any other
   * is a 400 naming the supported ones, never a Scan. The cursor is bound to the index, partition and range.
   */
  async list(query: ListQuery): Promise<TicketPage> {
    const target = TicketRepository.listTarget(query);
    if (!target) throw unsupportedList(query);
    const { index, partitionValue, range } = target;
    const fingerprint = JSON.stringify([index.name, partitionValue, range.from ?? '', range.to ?? '']);
    const startKey = query.cursor
      ? this.deps.cursors.decode(query.cursor, fingerprint, TicketRepository.listKeys(index))
      : undefined;
    const page = await this.repo.list(target, query.limit ?? DEFAULT_PAGE_SIZE, startKey);
    return {
      items: page.items.map(ticketView),
      next_cursor: page.lastKey ? this.deps.cursors.encode(fingerprint, page.lastKey) : null,
    };
  }

  private async mustGet(ticketId: string): Promise<TicketItem> {
    const ticket = await this.repo.getTicket(ticketId);
    if (!ticket) throw notFound('Ticket');
    return ticket;
  }

  /** The ticket with the first page of its conversation. */
  async get(ticketId: string): Promise<TicketWithMessages> {
    const ticket = await this.mustGet(ticketId);
    const page = await this.messagePage(ticketId, { shared: false });
    return ticketWithMessagesView(ticket, page.items, page.next_cursor);
  }

  /** The conversation, a page at a time, oldest first, internal notes included. */
  async messages(ticketId: string, query: PageQuery): Promise<MessagePage> {
    await this.mustGet(ticketId);
    const page = await this.messagePage(ticketId, { shared: false, ...query });
    return { items: page.items.map(messageView), next_cursor: page.next_cursor };
  }

  /**
   * The time a change stamps: now, or just after the last customer message when closing (so a message is
   * never after `closed_at`, whatever the clocks of the tasks that wrote them).
   */
  private async changeTime(current: TicketItem, fields: FieldChanges): Promise<string> {
    const now = this.now();
    if (fields.status !== 'closed' || current.status === 'closed') return now;
    const last = await this.repo.lastCustomerMessageAt(current.ticket_id);
    return last ? later(now, justAfter(last)) : now;
  }

  /**
   * Whitelisted changes under optimistic concurrency: `expectedVersion` comes from If-Match. ANY_VERSION
   * (`If-Match: *`) applies the change to whatever version is current, re-reading if a write came in between.
   */
  async patch(
    ticketId: string,
    expectedVersion: number | typeof ANY_VERSION,
    patch: TicketPatch,
    by: Principal,
  ): Promise<Ticket> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.mustGet(ticketId);
      if (expectedVersion !== ANY_VERSION && current.version !== expectedVersion) throw preconditionFailed();
      if (patch.assigned_to !== undefined) await this.checkAssignment(current, patch.assigned_to, by);
      const now = await this.changeTime(current, patch);
      const change = planChange(current, patch, now);
      if (isNoop(change)) return ticketView(current);
      const event = newEvent('ticket.updated', ticketId, by.id, now, { changes: change.changes });
      const { writes, next } = this.repo.update(current, change, now, event);
      try {
        await this.repo.commit(`patch#${attempt}`, writes);
        return ticketView(next);
      } catch (err) {
        if (!(err instanceof WriteConflict)) throw err;
        if (err.reason === 'missing') throw notFound('Ticket');
        // A customer's message landed after our closing time: close again, later (same version, same If-Match).
        // Any other refusal is a concurrent write: 412 for a named version, another try for `*`.
        if (err.reason !== 'late_close' && expectedVersion !== ANY_VERSION) throw preconditionFailed();
        if (attempt >= MAX_ATTEMPTS - 1) {
          if (expectedVersion !== ANY_VERSION) throw preconditionFailed();
          throw conflict('The ticket kept changing while the change was applied; retry');
        }
      }
    }
  }

  /** Agents take or release tickets themselves; handing a ticket to someone else is a manager's call. */
  private async checkAssignment(current: TicketItem, assignee: string | null, by: Principal): Promise<void> {
    const own =
      assignee === null ? current.assigned_to === undefined || current.assigned_to === by.email : assignee === by.email;
    if (!own && !hasRole(by, 'manager')) throw forbidden('Agents may only assign tickets to themselves');
    if (assignee !== null && !(await this.deps.userExists(assignee))) {
      throw badRequest('assigned_to is not an agent account', [{ path: 'body.assigned_to', message: 'unknown agent' }]);
    }
  }

  /**
   * A reply or an internal note. The first reply moves a new ticket to in_progress (and to its author), in
   * the same transaction as the reply and its first-response time.
   */
  async addAgentMessage(
    ticketId: string,
    input: { content: string; internal: boolean },
    by: Principal,
  ): Promise<{ message: Message; ticket: Ticket }> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.mustGet(ticketId);
      const now = this.now();
      const message = this.newMessage(
        ticketId,
        input.internal ? 'internal' : 'agent',
        input.content,
        by.name,
        now,
        by.email,
      );
      const fields: FieldChanges =
        !input.internal && current.status === 'new'
          ? { status: 'in_progress', ...(current.assigned_to === undefined && by.email && { assigned_to: by.email }) }
          : {};
      const change = planChange(current, fields, now);
      const moves = !isNoop(change);
      const writes = this.repo.addMessage(
        message,
        this.messageEvent(message, by.id, change),
        moves ? { change, current, now } : {},
      );
      try {
        await this.repo.commit(`agent-message#${attempt}`, writes);
        return { message: messageView(message), ticket: ticketView(moves ? applied(current, change, now) : current) };
      } catch (err) {
        if (!(err instanceof WriteConflict)) throw err;
        if (err.reason === 'missing') throw notFound('Ticket');
        if (attempt >= MAX_ATTEMPTS - 1) throw err;
      }
    }
  }

  /** Server-side transitions (not a client's If-Match): re-read and re-plan when someone wrote in between. */
  private async changeWithRetry(
    ticketId: string,
    changesFor: (t: TicketItem) => FieldChanges,
    actor: string,
    operation: string,
  ): Promise<TicketItem> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.mustGet(ticketId);
      const fields = changesFor(current);
      const now = await this.changeTime(current, fields);
      const change = planChange(current, fields, now);
      if (isNoop(change)) return current;
      const event = newEvent('ticket.updated', ticketId, actor, now, { changes: change.changes });
      const { writes, next } = this.repo.update(current, change, now, event);
      try {
        await this.repo.commit(`${operation}#${attempt}`, writes);
        return next;
      } catch (err) {
        if (!(err instanceof WriteConflict)) throw err;
        if (err.reason === 'missing') throw notFound('Ticket');
        if (attempt >= MAX_ATTEMPTS - 1) throw err;
      }
    }
  }

  /** A reply the assistant suggests to an agent, from the recent conversation without internal notes; not stored. */
  async suggestReply(ticketId: string): Promise<{ suggestion: string }> {
    await this.mustGet(ticketId);
    if (!this.deps.assistant) throw unavailable('The assistant is not configured on this service', 3600);
    const recent = await this.repo.recentMessages(ticketId, ASSISTANT_CONTEXT_MESSAGES);
    return { suggestion: await this.deps.assistant.suggestReply(recent.map(messageView)) };
  }

  /** What happened to the ticket: its events from the log, oldest first, a page at a time. */
  async history(ticketId: string, query: PageQuery): Promise<EventPage> {
    await this.mustGet(ticketId);
    const fingerprint = `history:${ticketId}`;
    const startKey = query.cursor
      ? this.deps.cursors.decode(query.cursor, fingerprint, ['ticket_id', 'event_id'])
      : undefined;
    const page = await this.deps.events.ofTicket(ticketId, query.limit ?? DEFAULT_MESSAGES_PAGE, startKey);
    return {
      events: page.events,
      next_cursor: page.lastKey ? this.deps.cursors.encode(fingerprint, page.lastKey) : null,
    };
  }

  /**
   * Deletes the ticket: the ticket item becomes a tombstone with the `ticket.deleted` event (one
   * transaction), from which moment the ticket refuses every message; then its items are purged. A delete
   * that finds a tombstone (an earlier one stopped before its purge) finishes the purge.
   */
  async delete(ticketId: string, by: Principal): Promise<void> {
    const current = await this.repo.getTicket(ticketId);
    if (!current) {
      if (!(await this.repo.isDeleted(ticketId))) throw notFound('Ticket');
      await this.repo.purge(ticketId);
      return;
    }
    const now = this.now();
    try {
      await this.repo.commit(
        'delete',
        this.repo.markDeleted(current, now, newEvent('ticket.deleted', ticketId, by.id, now)),
      );
    } catch (err) {
      if (err instanceof WriteConflict) throw notFound('Ticket');
      throw err;
    }
    await this.repo.purge(ticketId);
  }
}

/** The filter combinations a list supports (each has its index); the 400 of any other names them. */
export const SUPPORTED_LISTS =
  'newest created first (created_from/created_to allowed): no filter, any combination of assigned_to (an ' +
  'e-mail or none), status and channel, or priority alone, or tag alone, or customer alone; newest change ' +
  'first (sort=updated, or updated_from/updated_to): no other filter; oldest waiting first (sort=waiting): ' +
  'no filter or assigned_to alone';

function unsupportedList(query: ListQuery): AppError {
  const given = Object.entries(query)
    .filter(([k, v]) => v !== undefined && k !== 'limit' && k !== 'cursor')
    .map(([k]) => k);
  return new AppError(
    400,
    'unsupported_filter',
    `This combination of filters is not supported (${given.join(', ')}); supported: ${SUPPORTED_LISTS}`,
    given.map((k) => ({ path: `query.${k}`, message: 'cannot be combined with the other filters given' })),
  );
}

const closedTicket = () => conflict('This ticket is closed; open a new ticket if you need more help');
