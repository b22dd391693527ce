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
import type { BridgeTicketCreated, TicketMessageCreated } from './bridge-model.js';
import type { CursorCodec } from './cursor.js';
import { normalisePhone } from './customers.js';
import {
  ExternalMessageIds,
  type ExternalMessageRecord,
  type ExternalMessageRef,
  ExternalMessageTaken,
} from './external-ids.js';
import { newAccessToken, newTicketId, tokenMatches } from './ids.js';
import { listKeys, listTarget, type TicketLists } from './lists.js';
import { secondsBetween } from './metrics.js';
import {
  type Channel,
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
  type TicketRepository,
  WriteConflict,
} from './repository.js';
import {
  type Change,
  type FieldChanges,
  isNoop,
  pendingSecondsAt,
  planChange,
  reopens,
  withinReopenWindow,
} from './rules.js';
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
/** Days after closing during which a customer's message reopens the ticket (REOPEN_WINDOW_DAYS). */
export const DEFAULT_REOPEN_WINDOW_DAYS = 7;

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
  /**
   * The answer to the conversation's last message (the customer's), or none; never throws. `acknowledgement`:
   * the answer only says that an agent will answer (never counted as a response).
   */
  replyTo(conversation: Message[]): Promise<{ text: string; acknowledgement: boolean } | undefined>;
  /** The answer could not be stored: reported, while the customer's own message stays stored. */
  replyNotStored(ticketId: string, err: unknown): void;
  /** A reply an agent may send (not stored); an AppError 503 with Retry-After when unavailable. */
  suggestReply(conversation: Message[]): Promise<string>;
}

export interface TicketServiceDeps {
  repository: TicketRepository;
  /** The ticket lists (index Queries, then the tickets by key). */
  lists: TicketLists;
  events: EventLog;
  assistant?: TicketAssistant;
  cursors: CursorCodec;
  /** Whether an agent account exists (assignments must name one). */
  userExists: (email: string) => Promise<boolean>;
  clock?: () => Date;
  /** Days after closing during which a customer's message reopens the ticket (default 7). */
  reopenWindowDays?: number;
  /** Draws ticket ids (tests make it collide). */
  newId?: () => string;
  /** Channel message ids already stored (bridges' `external_message_id`). */
  externalIds?: ExternalMessageIds;
}

/** Who the customer is, as the ticket stores it (flat, optional). */
export interface CustomerFields {
  customer_name?: string;
  customer_email?: string;
  customer_phone?: string;
  customer_external_id?: string;
}

/** A ticket opened by a bridge for a customer of its channel. */
export interface BridgeTicketInput extends CustomerFields {
  channel: Channel;
  message: string;
  external_message_id?: string;
}

/** What a bridge's request stored, or found stored by an earlier one with the same external_message_id. */
export type BridgeOutcome<T> = T & { replayed: boolean };

/** As stored and looked up (customers.ts): e-mail in lower case, phone as `+<digits>`. */
const customerFields = (input: CustomerFields): CustomerFields => ({
  ...(input.customer_name && { customer_name: input.customer_name }),
  ...(input.customer_email && { customer_email: input.customer_email.toLowerCase() }),
  ...(input.customer_phone && { customer_phone: normalisePhone(input.customer_phone) }),
  ...(input.customer_external_id && { customer_external_id: input.customer_external_id }),
});

/** Pause before trying again a transaction that lost to a concurrent one. */
const contentionPause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, 10 * (attempt + 1) + Math.floor(Math.random() * 20)));

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
  private readonly reopenWindowDays: number;

  constructor(private readonly deps: TicketServiceDeps) {
    this.repo = deps.repository;
    this.reopenWindowDays = deps.reopenWindowDays ?? DEFAULT_REOPEN_WINDOW_DAYS;
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
    const { ticket, first, reply } = await this.open(input, { accessTokenHash: hash });
    const messages = reply ? [first, reply] : [first];
    return {
      ticket: publicTicketView(ticket, messages, null),
      access_token: token,
      ...(reply && { assistant_message: messageView(reply) }),
    };
  }

  /**
   * A ticket a bridge opens for a customer of its channel: the same use case as a customer's own, without an
   * access token (the bridge's key is its credential). With `external_message_id`, a ticket is opened once per
   * id and key: a repeat gets the ticket the first request opened (`replayed`).
   */
  async createForCustomer(input: BridgeTicketInput, by: Principal): Promise<BridgeOutcome<BridgeTicketCreated>> {
    const external = input.external_message_id ? { caller: by.id, id: input.external_message_id } : undefined;
    try {
      const { ticket, first, reply } = await this.open(input, { external });
      return {
        ticket: ticketView(ticket),
        message: messageView(first),
        ...(reply && { assistant_message: messageView(reply) }),
        replayed: false,
      };
    } catch (err) {
      if (!(err instanceof ExternalMessageTaken)) throw err;
      if (!err.record.opened_ticket) {
        throw conflict(
          `This external_message_id is already stored as message ${err.record.message_id} of ticket ` +
            `${err.record.target_ticket_id}; a new ticket needs a message id of its own`,
        );
      }
      const ticket = await this.repo.getTicket(err.record.target_ticket_id);
      if (!ticket) {
        throw conflict(`This external_message_id opened ticket ${err.record.target_ticket_id}, since deleted`);
      }
      return { ...(await this.storedExternalMessage(err.record)), ticket: ticketView(ticket) };
    }
  }

  /** The message an external id marks, with the assistant's answer to it if any: what the first request answered. */
  private async storedExternalMessage(
    record: ExternalMessageRecord,
  ): Promise<{ message: Message; assistant_message?: Message; replayed: true }> {
    const stored = await this.externalIds().storedMessage(record);
    if (!stored) throw conflict(`This external_message_id was stored as message ${record.message_id}, since deleted`);
    return {
      message: messageView(stored.message),
      ...(stored.answer && { assistant_message: messageView(stored.answer) }),
      replayed: true,
    };
  }

  private externalIds(): ExternalMessageIds {
    if (!this.deps.externalIds) throw new Error('the ticket service was built without its external message ids');
    return this.deps.externalIds;
  }

  /** The marker of a bridge's message, for the transaction that stores it. */
  private externalWrites(ref: ExternalMessageRef | undefined, message: NewMessage, openedTicket: boolean): Write[] {
    return ref ? [this.externalIds().marker(ref, message, openedTicket)] : [];
  }

  /**
   * After a refused transaction that carried a marker: throws ExternalMessageTaken when the id was stored first
   * (now or by a concurrent request); returns true when the transaction only lost a race and may be tried again.
   */
  private async externalRefusal(err: unknown, ref: ExternalMessageRef | undefined, attempt: number): Promise<boolean> {
    if (!ref) return false;
    const contended = ExternalMessageIds.contended(err);
    const record = ExternalMessageIds.takenIn(err) ?? (contended ? await this.externalIds().find(ref) : undefined);
    if (record) throw new ExternalMessageTaken(record);
    if (contended && attempt < MAX_ATTEMPTS - 1) {
      await contentionPause(attempt);
      return true;
    }
    return false;
  }

  /**
   * Stores the ticket with its first message, its event, its pending analysis and (a bridge's) the marker of
   * its external message id (one transaction), then the assistant's answer (within its budget); the analysis
   * runs after the response.
   */
  private async open(
    input: CustomerFields & { channel: Channel; message: string },
    extra: { accessTokenHash?: string; external?: ExternalMessageRef },
  ): Promise<{ ticket: NewTicket; first: NewMessage; reply?: NewMessage }> {
    const author = input.customer_name ?? 'Customer';
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.now();
      const ticketId = (this.deps.newId ?? newTicketId)();
      const ticket: NewTicket = {
        ticket_id: ticketId,
        status: 'new',
        priority: 'normal',
        channel: input.channel,
        ...customerFields(input),
        tags: [],
        created_at: now,
        updated_at: now,
        version: 1,
        ...(extra.accessTokenHash && { access_token_hash: extra.accessTokenHash }),
      };
      const first = this.newMessage(ticketId, 'customer', input.message, author, now);
      const event = newEvent('ticket.created', ticketId, CUSTOMER_ACTOR, now, {
        status: 'new',
        priority: 'normal',
        channel: input.channel,
        message_id: first.message_id,
        // The customer's words, as message.created carries a message's: a new ticket is read from its event.
        content: first.content,
      });
      try {
        await this.repo.commit(`create#${attempt}`, [
          ...this.repo.createTicket(ticket, first, event),
          ...this.externalWrites(extra.external, first, true),
          ...this.analysisWrites(ticketId, now),
        ]);
      } catch (err) {
        if (err instanceof WriteConflict && err.reason === 'id_taken') continue;
        if (await this.externalRefusal(err, extra.external, attempt)) continue;
        throw err;
      }
      const reply = await this.answer(ticket, [first]);
      this.deps.assistant?.analyseSoon(ticketId);
      return { ticket, first, reply };
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
      // The text travels with the event: a bridge relays an agent's reply, a screen shows it, without a read.
      content: message.content,
      ...(changes && !isNoop(changes) && { changes: changes.changes }),
    });
  }

  /**
   * The events of a message and the change it carries: one `message.created` that records the change (taking
   * a ticket, leaving pending), or, when the message reopens a closed ticket, `message.created` for the message
   * and `ticket.reopened` for the reopening (each fact told once).
   */
  private messageEvents(message: NewMessage, actor: string, change: Change) {
    if (!reopens(change)) return [this.messageEvent(message, actor, change)];
    return [
      this.messageEvent(message, actor),
      newEvent('ticket.reopened', message.ticket_id, actor, message.created_at, {
        changes: change.changes,
        message_id: message.message_id,
      }),
    ];
  }

  /** `ticket.updated`, or `ticket.reopened` when the change takes a closed ticket back to work. */
  private changeEvent(ticketId: string, actor: string, now: string, change: Change) {
    return newEvent(reopens(change) ? 'ticket.reopened' : 'ticket.updated', ticketId, actor, now, {
      changes: change.changes,
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

  /** Throws the 404 of a ticket that does not exist, or no longer (a customer's stream opened by a stream token). */
  async checkExists(ticketId: string): Promise<void> {
    await this.mustGet(ticketId);
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
   * Stores the message with its event and the pending analysis (one transaction), then the assistant's answer
   * (within its budget); the analysis runs after the response. See `addCustomerMessageTo` for what the message
   * does to the ticket.
   */
  async addCustomerMessage(
    ticketId: string,
    token: string,
    content: string,
  ): Promise<{ message: Message; assistant_message?: Message }> {
    const ticket = await this.openWithToken(ticketId, token);
    return this.addCustomerMessageTo(ticket, content);
  }

  /**
   * A customer's message carried by a bridge: the customer's own use case, on the bridge's key instead of the
   * ticket's token. With `external_message_id`, stored once per id and key: a repeat gets what was stored.
   */
  async addBridgeMessage(
    ticketId: string,
    input: { content: string; external_message_id?: string },
    by: Principal,
  ): Promise<BridgeOutcome<TicketMessageCreated>> {
    const external = input.external_message_id ? { caller: by.id, id: input.external_message_id } : undefined;
    // Read first: a repeat of a message stored before the ticket closed is answered, not refused as closed.
    const earlier = external && (await this.externalIds().find(external));
    let outcome: { message: Message; assistant_message?: Message; replayed: boolean };
    try {
      if (earlier) throw new ExternalMessageTaken(earlier);
      outcome = { ...(await this.addCustomerMessageTo(ticketId, input.content, external)), replayed: false };
    } catch (err) {
      if (!(err instanceof ExternalMessageTaken)) throw err;
      if (err.record.target_ticket_id !== ticketId) {
        throw conflict(
          `This external_message_id is already stored as message ${err.record.message_id} of ticket ` +
            `${err.record.target_ticket_id}`,
        );
      }
      outcome = await this.storedExternalMessage(err.record);
    }
    // The ticket as it is now (a customer's message may have moved it).
    return { ...outcome, ticket: ticketView(await this.mustGet(ticketId)) };
  }

  /**
   * A customer's message on a ticket whose caller is known to speak for the customer (the ticket's token, or
   * an integration acting for the customer). In the message's one transaction, conditional on the ticket's
   * state: a pending ticket goes back to in_progress; a ticket closed less than the reopen window ago is
   * reopened (`ticket.reopened`); a ticket closed longer ago refuses it (409 `ticket_closed`: a new ticket is
   * needed). A concurrent change of the ticket makes it plan again on a fresh read.
   */
  async addCustomerMessageTo(
    ticket: TicketItem | string,
    content: string,
    /** A bridge's channel message id, marked in the same transaction (stored once per id and key). */
    external?: ExternalMessageRef,
  ): Promise<{ message: Message; assistant_message?: Message }> {
    const ticketId = typeof ticket === 'string' ? ticket : ticket.ticket_id;
    let current = typeof ticket === 'string' ? await this.mustGet(ticketId) : ticket;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) current = await this.mustGet(ticketId);
      const now = this.now();
      const message = this.newMessage(ticketId, 'customer', content, current.customer_name ?? 'Customer', now);
      let fields: FieldChanges = {};
      if (current.status === 'closed') {
        if (!withinReopenWindow(current.closed_at, now, this.reopenWindowDays))
          throw closedTicket(this.reopenWindowDays);
        fields = { status: 'in_progress' };
      } else if (current.status === 'pending') {
        fields = { status: 'in_progress' };
      }
      const change = planChange(current, fields, now);
      const moves = !isNoop(change);
      try {
        await this.repo.commit(`customer-message#${attempt}`, [
          ...this.repo.addMessage(
            message,
            this.messageEvents(message, CUSTOMER_ACTOR, change),
            moves ? { change, version: current.version, current, now } : {},
          ),
          ...this.externalWrites(external, message, false),
          ...this.analysisWrites(ticketId, now),
        ]);
      } catch (err) {
        if (await this.externalRefusal(err, external, attempt)) continue;
        if (!(err instanceof WriteConflict)) throw err;
        if (err.reason === 'missing') throw notFound('Ticket');
        if (attempt >= MAX_ATTEMPTS - 1) throw conflict('The ticket kept changing while the message was stored; retry');
        continue;
      }
      const after = moves ? applied(current, change, now) : current;
      const reply = await this.answer(after, undefined);
      this.deps.assistant?.analyseSoon(ticketId);
      return { message: messageView(message), ...(reply && { assistant_message: messageView(reply) }) };
    }
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
    const answer = await assistant.replyTo(history);
    if (!answer) return undefined;
    // Strictly after the message it answers, so the conversation's order holds even for an instant answer.
    const after = history[history.length - 1]?.created_at ?? '';
    let at = this.now();
    if (at <= after) at = justAfter(after);
    const reply = this.newMessage(ticket.ticket_id, 'assistant', answer.text, assistant.authorName, at);
    // A real answer stamps the first assistant response (the first one stays); the acknowledgement never does.
    // The ticket was read just before (the customer's message ended any pending period): its pending time is exact.
    const stampIfAbsent = answer.acknowledgement
      ? {}
      : {
          first_assistant_response_at: at,
          first_assistant_response_seconds: Math.max(
            0,
            secondsBetween(ticket.created_at, at) - pendingSecondsAt(ticket, at),
          ),
        };
    try {
      await this.repo.commit(
        'assistant-reply',
        this.repo.addMessage(reply, this.messageEvent(reply, ASSISTANT_ACTOR), { stampIfAbsent }),
      );
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
    const target = listTarget(query);
    if (!target) throw unsupportedList(query);
    const { index, partitionValue, range } = target;
    const fingerprint = JSON.stringify([index.name, partitionValue, range.from ?? '', range.to ?? '']);
    const startKey = query.cursor ? this.deps.cursors.decode(query.cursor, fingerprint, listKeys(index)) : undefined;
    const page = await this.deps.lists.list(target, query.limit ?? DEFAULT_PAGE_SIZE, startKey);
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
   * The time a change stamps: now, or just after the last customer message when closing or making the ticket
   * pending (so a message is never after `closed_at` or `pending_since`, whatever the clocks of the tasks that
   * wrote them: a pending ticket always waits for a message still to come).
   */
  private async changeTime(current: TicketItem, fields: FieldChanges): Promise<string> {
    const now = this.now();
    if ((fields.status !== 'closed' && fields.status !== 'pending') || current.status === fields.status) return now;
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
      const event = this.changeEvent(ticketId, by.id, now, change);
      const { writes, next } = this.repo.update(current, change, now, event);
      try {
        await this.repo.commit(`patch#${attempt}`, writes);
        return ticketView(next);
      } catch (err) {
        if (!(err instanceof WriteConflict)) throw err;
        if (err.reason === 'missing') throw notFound('Ticket');
        // A customer's message landed after our closing (or pending) time: plan again, later (same version, same
        // If-Match).
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

  /** The ticket's customer name, if it has one (a canned response's `{{customer.name}}`); 404 without a ticket. */
  async customerName(ticketId: string): Promise<string | undefined> {
    return (await this.mustGet(ticketId)).customer_name;
  }

  /**
   * A reply or an internal note. A reply moves a new ticket to in_progress (and to its author) and reopens a
   * closed one (`ticket.reopened`); a note changes nothing. An agent's first reply stamps the first response
   * (creation to now, pending time excluded), conditional on the ticket read; all in the reply's transaction.
   */
  async addAgentMessage(
    ticketId: string,
    input: { content: string; internal: boolean },
    by: Principal,
  ): Promise<{ message: Message; ticket: Ticket }> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.mustGet(ticketId);
      const now = this.now();
      const reply = !input.internal;
      const message = this.newMessage(ticketId, reply ? 'agent' : 'internal', input.content, by.name, now, by.email);
      let fields: FieldChanges = {};
      if (reply && current.status === 'new') {
        fields = {
          status: 'in_progress',
          ...(current.assigned_to === undefined && by.email && { assigned_to: by.email }),
        };
      } else if (reply && current.status === 'closed') {
        fields = { status: 'in_progress' };
      }
      const change = planChange(current, fields, now);
      const moves = !isNoop(change);
      // The first agent reply: replaces what the assistant may have stamped as first_response_at before the two
      // were told apart. Computed from the ticket as read, so written on the condition that it did not change.
      const stamp: Record<string, unknown> =
        reply && current.agent_replied_at === undefined
          ? {
              first_response_at: now,
              first_response_seconds: Math.max(
                0,
                secondsBetween(current.created_at, now) - pendingSecondsAt(current, now),
              ),
              agent_replied_at: now,
            }
          : {};
      const writes = this.repo.addMessage(
        message,
        this.messageEvents(message, by.id, change),
        moves || Object.keys(stamp).length > 0
          ? { change: moves ? change : undefined, version: current.version, current, now, stamp }
          : {},
      );
      try {
        await this.repo.commit(`agent-message#${attempt}`, writes);
        const after = moves ? applied(current, change, now) : current;
        return { message: messageView(message), ticket: ticketView({ ...after, ...stamp }) };
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
      const event = this.changeEvent(ticketId, actor, now, change);
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

/** A customer's message on a ticket closed longer ago than the reopen window. */
const closedTicket = (days: number) =>
  new AppError(
    409,
    'ticket_closed',
    `This ticket was closed more than ${days} day${days === 1 ? '' : 's'} ago; open a new ticket if you need more help`,
  );
