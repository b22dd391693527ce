/**
 * Ticket use cases for customers and agents. Knows the rules and the repository, never HTTP.
 */
import { randomUUID } from 'node:crypto';
import { hasRole, type Principal } from '../auth/principal.js';
import { listIndexFor, TICKET_SK } from '../db/tables.js';
import { AppError, badRequest, conflict, forbidden, notFound, preconditionFailed, unavailable } from '../errors.js';
import type { CursorCodec } from './cursor.js';
import { newAccessToken, newTicketId, tokenMatches } from './ids.js';
import {
  type CreatePublicTicket,
  DEFAULT_PAGE_SIZE,
  type HistoryEvent,
  type ListQuery,
  type Message,
  type PublicTicket,
  type Ticket,
  type TicketPage,
  type TicketPatch,
  type TicketWithMessages,
} from './model.js';
import {
  type MessageItem,
  messageSortKey,
  type TicketItem,
  type TicketRecord,
  type TicketRepository,
  WriteConflict,
} from './repository.js';
import { type FieldChanges, isNoop, planChange } from './rules.js';
import { conversation, messageView, publicTicketView, ticketView, ticketWithMessagesView } from './views.js';
/** `If-Match: *`: any current version matches. */
export const ANY_VERSION = '*';
const CUSTOMER_ACTOR = 'customer';

/**
 * What the ticket use cases need from the assistant (api/assistant). Without one, tickets work the same,
 * with no automatic answer and no analysis.
 */
export interface TicketAssistant {
  /** Author name of the assistant's messages. */
  readonly authorName: string;
  /** Durably records that the ticket needs (re)analysis; called before the customer's message is stored. */
  requestAnalysis(ticketId: string): Promise<void>;
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
  assistant?: TicketAssistant;
  cursors: CursorCodec;
  /** Whether an agent account exists (assignments must name one). */
  userExists: (email: string) => Promise<boolean>;
  clock?: () => Date;
  /** Draws ticket ids (tests make it collide). */
  newId?: () => string;
}

export class TicketService {
  private readonly repo: TicketRepository;
  private readonly now: () => string;

  constructor(private readonly deps: TicketServiceDeps) {
    this.repo = deps.repository;
    const clock = deps.clock ?? (() => new Date());
    this.now = () => clock().toISOString();
  }

  // ---- customers -------------------------------------------------------------------------------------------

  /**
   * Stores the ticket with its first message, then the assistant's answer (within its budget), and queues
   * the analysis, which runs after the response.
   */
  async createPublic(
    input: CreatePublicTicket,
  ): Promise<{ ticket: PublicTicket; access_token: string; assistant_message?: Message }> {
    const now = this.now();
    const { token, hash } = newAccessToken();
    const author = input.customer_name ?? 'Customer';
    for (let attempt = 0; attempt < 5; attempt++) {
      const item: TicketItem = {
        ticket_id: (this.deps.newId ?? newTicketId)(),
        sk: TICKET_SK,
        status: 'new',
        priority: 'normal',
        channel: input.channel,
        ...(input.customer_name && { customer_name: input.customer_name }),
        ...(input.customer_email && { customer_email: input.customer_email }),
        tags: [],
        created_at: now,
        updated_at: now,
        version: 1,
        access_token_hash: hash,
        initial_message: {
          message_id: randomUUID(),
          type: 'customer',
          content: input.message,
          author_name: author,
          created_at: now,
        },
      };
      // The pending analysis is recorded first: no stored message ever lacks one.
      await this.deps.assistant?.requestAnalysis(item.ticket_id);
      if (await this.repo.create(item)) {
        const reply = await this.answer(item, conversation({ ticket: item, messages: [] }));
        this.deps.assistant?.analyseSoon(item.ticket_id);
        const ticket = publicTicketView({ ticket: item, messages: reply ? [reply] : [] });
        return { ticket, access_token: token, ...(reply && { assistant_message: messageView(reply) }) };
      }
    }
    throw new AppError(503, 'unavailable', 'could not allocate a ticket id; retry', undefined, 1);
  }

  /** The ticket if the token opens it; a wrong token and an unknown ticket are the same 404. */
  private async openWithToken(ticketId: string, token: string): Promise<TicketRecord> {
    const record = await this.repo.getWithMessages(ticketId);
    if (!record || !tokenMatches(token, record.ticket.access_token_hash)) throw notFound('Ticket');
    return record;
  }

  async getPublic(ticketId: string, token: string): Promise<PublicTicket> {
    return publicTicketView(await this.openWithToken(ticketId, token));
  }

  /** Stores the message, then the assistant's answer (within its budget); the analysis runs after the response. */
  async addCustomerMessage(
    ticketId: string,
    token: string,
    content: string,
  ): Promise<{ message: Message; assistant_message?: Message }> {
    const record = await this.openWithToken(ticketId, token);
    const { ticket } = record;
    if (ticket.status === 'closed') throw conflict('This ticket is closed; open a new ticket if you need more help');
    const now = this.now();
    const message = {
      ticket_id: ticketId,
      message_id: randomUUID(),
      type: 'customer' as const,
      content,
      author_name: ticket.customer_name ?? 'Customer',
      created_at: now,
      sk: '',
    };
    message.sk = messageSortKey(now, message.message_id);
    await this.deps.assistant?.requestAnalysis(ticketId);
    await this.repo.addMessage(message);
    const reply = await this.answer(ticket, [...conversation(record), messageView(message)]);
    this.deps.assistant?.analyseSoon(ticketId);
    return { message: messageView(message), ...(reply && { assistant_message: messageView(reply) }) };
  }

  /** The assistant's answer to the conversation, stored after it; none without an assistant or an answer. */
  private async answer(ticket: TicketItem, history: Message[]): Promise<MessageItem | undefined> {
    const assistant = this.deps.assistant;
    if (!assistant) return undefined;
    const text = await assistant.replyTo(history);
    if (!text) return undefined;
    // Strictly after the message it answers, so the conversation's order holds even for an instant answer.
    const after = history[history.length - 1]?.created_at ?? '';
    let at = this.now();
    if (at <= after) at = new Date(Date.parse(after) + 1).toISOString();
    const reply: MessageItem = {
      ticket_id: ticket.ticket_id,
      sk: '',
      message_id: randomUUID(),
      type: 'assistant',
      content: text,
      author_name: assistant.authorName,
      created_at: at,
    };
    reply.sk = messageSortKey(at, reply.message_id);
    try {
      await this.repo.addMessage(reply);
      return reply;
    } catch (err) {
      assistant.replyNotStored(ticket.ticket_id, err);
      return undefined;
    }
  }

  async closePublic(ticketId: string, token: string): Promise<PublicTicket> {
    await this.openWithToken(ticketId, token);
    await this.changeWithRetry(ticketId, () => ({ status: 'closed' }), CUSTOMER_ACTOR);
    return publicTicketView(await this.mustGet(ticketId));
  }

  // ---- agents and tools ------------------------------------------------------------------------------------

  async list(query: ListQuery): Promise<TicketPage> {
    const filters = (['assigned_to', 'status', 'channel'] as const).filter((f) => query[f] !== undefined);
    const index = listIndexFor(filters);
    const partitionValue = index.filters.length === 0 ? 'ALL' : index.filters.map((f) => query[f]).join('#');
    const fingerprint = JSON.stringify([index.name, partitionValue, query.created_from ?? '', query.created_to ?? '']);
    const startKey = query.cursor
      ? this.deps.cursors.decode(query.cursor, fingerprint, ['ticket_id', 'sk', index.partitionAttribute, 'created_at'])
      : undefined;
    const page = await this.repo.list(
      index,
      partitionValue,
      { from: query.created_from, to: query.created_to },
      query.limit ?? DEFAULT_PAGE_SIZE,
      startKey,
    );
    return {
      items: page.items.map(ticketView),
      next_cursor: page.lastKey ? this.deps.cursors.encode(fingerprint, page.lastKey) : null,
    };
  }

  private async mustGet(ticketId: string): Promise<TicketRecord> {
    const record = await this.repo.getWithMessages(ticketId);
    if (!record) throw notFound('Ticket');
    return record;
  }

  async get(ticketId: string): Promise<TicketWithMessages> {
    return ticketWithMessagesView(await this.mustGet(ticketId));
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
      const current = await this.repo.getTicket(ticketId);
      if (!current) throw notFound('Ticket');
      if (expectedVersion !== ANY_VERSION && current.version !== expectedVersion) throw preconditionFailed();
      if (patch.assigned_to !== undefined) await this.checkAssignment(current, patch.assigned_to, by);
      const change = planChange(current, patch, by.id, this.now());
      if (isNoop(change)) return ticketView(current);
      try {
        return ticketView(await this.repo.update(current, change, this.now()));
      } catch (err) {
        if (!(err instanceof WriteConflict)) throw err;
        if (!(await this.repo.getTicket(ticketId))) throw notFound('Ticket');
        if (expectedVersion !== ANY_VERSION) throw preconditionFailed();
        if (attempt >= 4) throw conflict('The ticket kept changing while the change was applied; retry');
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

  /** A reply or an internal note. The first reply moves a new ticket to in_progress (and to its author). */
  async addAgentMessage(
    ticketId: string,
    input: { content: string; internal: boolean },
    by: Principal,
  ): Promise<{ message: Message; ticket: Ticket }> {
    const current = await this.repo.getTicket(ticketId);
    if (!current) throw notFound('Ticket');
    const now = this.now();
    const message = {
      ticket_id: ticketId,
      sk: '',
      message_id: randomUUID(),
      type: input.internal ? ('internal' as const) : ('agent' as const),
      content: input.content,
      author_name: by.name,
      ...(by.email && { author_email: by.email }),
      created_at: now,
    };
    message.sk = messageSortKey(now, message.message_id);
    await this.repo.addMessage(message);
    let ticket = current;
    if (!input.internal && current.status === 'new') {
      ticket = await this.changeWithRetry(
        ticketId,
        (t) =>
          t.status === 'new'
            ? { status: 'in_progress', ...(t.assigned_to === undefined && by.email && { assigned_to: by.email }) }
            : {},
        by.id,
      );
    }
    return { message: messageView(message), ticket: ticketView(ticket) };
  }

  /** Server-side transitions (not a client's If-Match): re-read and re-plan when someone wrote in between. */
  private async changeWithRetry(
    ticketId: string,
    changesFor: (t: TicketItem) => FieldChanges,
    actor: string,
  ): Promise<TicketItem> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.repo.getTicket(ticketId);
      if (!current) throw notFound('Ticket');
      const change = planChange(current, changesFor(current), actor, this.now());
      if (isNoop(change)) return current;
      try {
        return await this.repo.update(current, change, this.now());
      } catch (err) {
        if (!(err instanceof WriteConflict) || attempt >= 4) throw err;
      }
    }
  }

  /** A reply the assistant suggests to an agent, from the conversation without internal notes; not stored. */
  async suggestReply(ticketId: string): Promise<{ suggestion: string }> {
    const record = await this.mustGet(ticketId);
    if (!this.deps.assistant) throw unavailable('The assistant is not configured on this service', 3600);
    return { suggestion: await this.deps.assistant.suggestReply(conversation(record)) };
  }

  async history(ticketId: string): Promise<HistoryEvent[]> {
    const record = await this.mustGet(ticketId);
    const { ticket } = record;
    const events: HistoryEvent[] = [
      { type: 'created', at: ticket.created_at, ...(ticket.customer_name && { by: ticket.customer_name }) },
      ...conversation(record).map(
        (m): HistoryEvent => ({
          type: 'message',
          at: m.created_at,
          by: m.author_email ?? m.author_name,
          message_id: m.message_id,
          message_type: m.type,
        }),
      ),
      ...(ticket.events ?? []),
    ];
    // Stable sort: at equal times, creation precedes its first message, and a message precedes its effects.
    return events.sort((a, b) => a.at.localeCompare(b.at));
  }

  async delete(ticketId: string): Promise<void> {
    if (!(await this.repo.delete(ticketId))) throw notFound('Ticket');
  }
}
