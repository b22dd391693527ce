/**
 * The ticket writes and the conversation reads of the tickets table (the list reads are in lists.ts). One
 * partition per ticket: the ticket item (`sk = TICKET`, current state only, small whatever happens to the
 * ticket) and one item per message (`sk = MSG#<created_at>#<message_id>`). Reads of a conversation are
 * pages. Writes are never sent from here one by one: each method returns the writes of a change (the ticket
 * item's conditional update, the message, and the change's event from the event log), and `commit` sends
 * them as one transaction.
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../db/batch.js';
import {
  ACTIVITY_SK,
  CUSTOMER_LOOKUP_PREFIX,
  DERIVED_LIST_ATTRIBUTES,
  LOOKUP_SK_PREFIX,
  listIndexAttributes,
  MESSAGE_SK_PREFIX,
  TAG_LOOKUP_PREFIX,
  TICKET_SK,
  WAITING_SINCE,
} from '../db/tables.js';
import { commit, TransactionCancelled, transactionToken, type Write } from '../db/transaction.js';
import type { EventLog } from '../events/log.js';
import type { TicketEvent } from '../events/model.js';
import { customerKeys } from './customers.js';
import type { Analytics, Channel, MessageType, Priority, Status } from './model.js';
import type { Change } from './rules.js';

export interface MessageItem {
  ticket_id: string;
  /** `MSG#<created_at>#<message_id>`: set by the repository when the message is written. */
  sk: string;
  message_id: string;
  type: MessageType;
  content: string;
  author_name: string;
  author_email?: string;
  created_at: string;
}

/** The ticket's own attributes (what the use cases make and read). */
export interface TicketFields {
  ticket_id: string;
  status: Status;
  priority: Priority;
  channel: Channel;
  customer_name?: string;
  customer_email?: string;
  /** `+<digits>` (customers.ts). */
  customer_phone?: string;
  /** The customer's id in the system a bridge connects (a chat or messaging account). */
  customer_external_id?: string;
  assigned_to?: string;
  tags: string[];
  created_at: string;
  updated_at: string;
  /** The oldest customer message no agent reply has answered yet (absent: nothing waits; cleared on close). */
  waiting_since?: string;
  closed_at?: string;
  /** Creation to closing, time spent pending excluded. */
  resolution_seconds?: number;
  /** Present while the ticket is pending (waiting for the customer). */
  pending_since?: string;
  /** Seconds spent pending in finished pending periods. */
  pending_seconds?: number;
  analytics?: Analytics;
  /**
   * When an agent first replied, and creation to then minus pending time (read by export and analytics).
   * Items stored before the assistant's answers were told apart may hold the assistant's time here without
   * `first_response_seconds`: readers go by `agent_replied_at` for those (api/tickets/metrics.ts).
   */
  first_response_at?: string;
  first_response_seconds?: number;
  /** When an agent first replied: the assistant stays silent from then on. */
  agent_replied_at?: string;
  /** The assistant's first real answer (smart reply or model reply; never the acknowledgement). */
  first_assistant_response_at?: string;
  first_assistant_response_seconds?: number;
  version: number;
  access_token_hash?: string;
  /** Present on a deleted ticket until its items are purged (a tombstone: nothing else remains on it). */
  deleted_at?: string;
}

/** The stored ticket item: its fields, its key and the list-index attributes. */
export interface TicketItem extends TicketFields {
  sk: typeof TICKET_SK;
  [indexAttribute: string]: unknown;
}

/**
 * One tag or one customer identity of a ticket, in the ticket's partition: it puts the ticket in the
 * `tag#<tag>` or `customer#<key>` partition of the unfiltered list index, ordered by the ticket's creation.
 */
export interface LookupItem {
  ticket_id: string;
  sk: string;
  list_all: string;
  created_at: string;
}

const lookupKey = (ticketId: string, value: string) => ({ ticket_id: ticketId, sk: `${LOOKUP_SK_PREFIX}${value}` });

/** Why a change to a ticket was refused. */
export type ConflictReason =
  /** The ticket does not exist or was deleted. */
  | 'missing'
  /** Its version moved on since it was read. */
  | 'version'
  /** It is closed (a customer's or the assistant's message). */
  | 'closed'
  /** It became pending since it was read (a customer's message): plan it again. */
  | 'pending'
  /**
   * A customer's message was stored at or after the `closed_at` (or `pending_since`) this change stamped: plan
   * it again.
   */
  | 'late_close'
  /** The first message of a new ticket: the id is taken. */
  | 'id_taken';

/** The write's condition did not hold. */
/** A message as the use cases make it: the repository gives it its key. */
export type NewMessage = Omit<MessageItem, 'sk'>;

/** A ticket as the use cases make it: the repository gives it its key. */
export type NewTicket = TicketFields;

export class WriteConflict extends Error {
  override name = 'WriteConflict';
  constructor(readonly reason: ConflictReason) {
    super(`ticket write refused: ${reason}`);
  }
}

export const messageSortKey = (createdAt: string, messageId: string) => `${MESSAGE_SK_PREFIX}${createdAt}#${messageId}`;

/** A page of a conversation, oldest first; `lastKey` is where the next page starts. */
export interface MessagePage {
  items: MessageItem[];
  lastKey: Record<string, string> | undefined;
}

/** Keys a message page cursor must carry. */
export const MESSAGE_PAGE_KEYS = ['ticket_id', 'sk'];

/** What a write to the ticket item expects of it (all conditions imply the ticket exists and is not deleted). */
interface TicketCondition {
  version?: number;
  /** Refuse a closed ticket. */
  open?: boolean;
  /** Refuse a closed or pending ticket (a customer's message that changes nothing else). */
  active?: boolean;
  /** This change closes the ticket (or makes it pending) at this time: no customer message may be at or after it. */
  closingAt?: string;
}

interface TicketUpdate {
  set?: Record<string, unknown>;
  /** Set only when absent (first response times). */
  setIfAbsent?: Record<string, unknown>;
  remove?: string[];
  bumpVersion?: boolean;
}

export class TicketRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly events: EventLog,
  ) {}

  /** The ticket item with its list-index partition attributes. */
  static withIndexAttributes<T extends TicketItem>(item: T): T {
    return { ...item, ...listIndexAttributes(item) };
  }

  /** The lookup items of a ticket: one per tag, one per distinct customer identity. */
  static lookupItems(ticket: TicketFields): LookupItem[] {
    const values = [
      ...(ticket.tags ?? []).map((t) => `${TAG_LOOKUP_PREFIX}${t}`),
      ...customerKeys(ticket).map((k) => `${CUSTOMER_LOOKUP_PREFIX}${k}`),
    ];
    return values.map((v) => ({ ...lookupKey(ticket.ticket_id, v), list_all: v, created_at: ticket.created_at }));
  }

  /** Every item a ticket is stored as, messages aside (imports and seeds write them in bulk). */
  static storedItems(ticket: TicketFields): Array<TicketItem | LookupItem> {
    return [
      TicketRepository.withIndexAttributes({ ...ticket, sk: TICKET_SK }),
      ...TicketRepository.lookupItems(ticket),
    ];
  }

  /**
   * Sends the writes of one change as one transaction. `operation` names the change within the request
   * (with its attempt number when the change is planned again), so its token is stable across the SDK's
   * retries and distinct between changes. A refused ticket condition becomes a WriteConflict.
   */
  async commit(operation: string, writes: Write[]): Promise<void> {
    try {
      await commit(this.doc, writes, transactionToken(operation));
    } catch (err) {
      if (!(err instanceof TransactionCancelled)) throw err;
      const ticket = err.failed('ticket');
      if (ticket) throw new WriteConflict(conflictReason(ticket.item as TicketItem | undefined, writes));
      if (err.failed('new-ticket')) throw new WriteConflict('id_taken');
      if (err.failed('activity')) throw new WriteConflict('late_close');
      throw err;
    }
  }

  /** The write of an event, for the transaction of the change it describes. */
  event(event: TicketEvent): Write {
    return this.events.write(event);
  }

  // ---- writes (returned, never sent here) ----------------------------------------------------------------

  /** A new ticket with its first message; refused (`id_taken`) when the id exists. */
  createTicket(ticket: NewTicket, first: NewMessage, event: TicketEvent): Write[] {
    // The first message is the customer's: the ticket waits for an agent from its first instant.
    const stored = first.type === 'customer' ? { waiting_since: first.created_at, ...ticket } : ticket;
    return [
      {
        label: 'new-ticket',
        item: {
          Put: {
            TableName: this.table,
            Item: TicketRepository.withIndexAttributes({ ...stored, sk: TICKET_SK } as TicketItem),
            ConditionExpression: 'attribute_not_exists(ticket_id)',
          },
        },
      },
      ...TicketRepository.lookupItems(ticket).map((item) => this.putLookup(item)),
      {
        label: 'activity',
        item: {
          Put: {
            TableName: this.table,
            Item: { ticket_id: ticket.ticket_id, sk: ACTIVITY_SK, last_customer_message_at: first.created_at },
          },
        },
      },
      this.putMessage(first),
      this.events.write(event),
    ];
  }

  /**
   * A message with what it does to the ticket, and its events:
   * - a customer's message moves the activity item's `last_customer_message_at` and starts the ticket's
   *   `waiting_since` unless it already waits; on an active ticket (new or in progress) nothing else changes,
   *   so it is refused once the ticket is pending or closed, and the caller plans again: its `change` (leaving
   *   pending, reopening) is planned on the ticket read (`current`, at `version`);
   * - an agent's reply ends the wait (an internal note or the assistant's answer does not) and may carry a
   *   `change` (taking a new ticket, reopening a closed one), planned the same way;
   * - `stamp` sets derived attributes (first response times) without bumping the version, on the condition
   *   that the ticket is still at `version` (the figures were computed from it); `stampIfAbsent` keeps the
   *   first value written;
   * - an assistant's message is refused on a closed ticket; an internal note only checks the ticket.
   */
  addMessage(
    message: NewMessage,
    events: TicketEvent | readonly TicketEvent[],
    options: {
      change?: Change;
      version?: number;
      /** The ticket as read at `version`: a change's list keys and tag lookups are planned on it. */
      current?: TicketItem;
      now?: string;
      stamp?: Record<string, unknown>;
      stampIfAbsent?: Record<string, unknown>;
    } = {},
  ): Write[] {
    const { change, stamp = {} } = options;
    const version = options.version ?? options.current?.version;
    const stampIfAbsent = {
      ...options.stampIfAbsent,
      ...(message.type === 'customer' && { [WAITING_SINCE]: message.created_at }),
    };
    // Only the waiting indexes key on `waiting_since`: the wait ends with an agent's reply.
    const endsWait = message.type === 'agent' ? [WAITING_SINCE] : [];
    const tail = [this.putMessage(message), ...[events].flat().map((e) => this.events.write(e))];
    const writes: Write[] = [];
    if (change && version !== undefined) {
      const planned = this.changeUpdate(change, options.now ?? message.created_at, version, options.current);
      const remove = [...new Set([...planned.update.remove, ...endsWait])];
      writes.push(
        this.ticketWrite(
          message.ticket_id,
          { ...planned.update, set: { ...planned.update.set, ...stamp }, remove, setIfAbsent: stampIfAbsent },
          planned.condition,
        ),
        ...planned.lookups,
      );
    } else if (Object.keys(stamp).length > 0 && version !== undefined) {
      writes.push(
        this.ticketWrite(message.ticket_id, { set: stamp, setIfAbsent: stampIfAbsent, remove: endsWait }, { version }),
      );
    } else if (Object.keys(stampIfAbsent).length > 0 || endsWait.length > 0) {
      writes.push(
        this.ticketWrite(
          message.ticket_id,
          { setIfAbsent: stampIfAbsent, remove: endsWait },
          message.type === 'customer' ? { active: true } : { open: message.type === 'assistant' },
        ),
      );
    } else {
      writes.push(this.ticketCheck(message.ticket_id, message.type === 'assistant' ? 'open' : 'exists'));
    }
    if (message.type !== 'customer') return [...writes, ...tail];
    return [
      ...writes,
      {
        label: 'activity',
        item: {
          Update: {
            TableName: this.table,
            Key: { ticket_id: message.ticket_id, sk: ACTIVITY_SK },
            UpdateExpression: 'SET last_customer_message_at = :at',
            ExpressionAttributeValues: { ':at': message.created_at },
          },
        },
      },
      ...tail,
    ];
  }

  /**
   * A change of the ticket's fields, only if nobody changed it since it was read at `current.version`:
   * bumps the version, stamps `updated_at`, keeps the list-index attributes in step. Returns the writes and
   * the ticket as it will be once they are committed.
   */
  update(current: TicketItem, change: Change, now: string, event: TicketEvent): { writes: Write[]; next: TicketItem } {
    const { update, condition, next, lookups } = this.changeUpdate(change, now, current.version, current);
    const writes = [this.ticketWrite(current.ticket_id, update, condition), ...lookups, this.events.write(event)];
    if (condition.closingAt) writes.push(this.closingCheck(current.ticket_id, condition.closingAt));
    return { writes, next: next as TicketItem };
  }

  /**
   * The ticket becomes a tombstone at once (no list shows it, no message is accepted on it); its items are
   * purged afterwards by `purge`.
   */
  markDeleted(current: TicketItem, now: string, event: TicketEvent): Write[] {
    return [
      {
        label: 'ticket',
        item: {
          Put: {
            TableName: this.table,
            Item: { ticket_id: current.ticket_id, sk: TICKET_SK, deleted_at: now, version: current.version + 1 },
            ConditionExpression: 'attribute_exists(ticket_id) AND attribute_not_exists(deleted_at)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      },
      this.events.write(event),
    ];
  }

  /**
   * The analysis result: the analytics attributes only, without a version bump, so an agent's edit made
   * while the model was thinking is neither lost nor turned into a 412. `basis` is the time of the last
   * message the analysis read: an analysis of an older state never replaces a newer one (`version` reason).
   */
  setAnalytics(ticketId: string, analytics: Analytics, basis: string | undefined, events: TicketEvent[]): Write[] {
    const names: Record<string, string> = { '#a': 'analytics', '#d': 'deleted_at' };
    const values: Record<string, unknown> = { ':a': analytics };
    let condition = 'attribute_exists(ticket_id) AND attribute_not_exists(#d)';
    let expression = 'SET #a = :a';
    if (basis) {
      names['#b'] = 'analytics_basis';
      values[':b'] = basis;
      expression += ', #b = :b';
      condition += ' AND (attribute_not_exists(#b) OR #b <= :b)';
    }
    return [
      {
        label: 'ticket',
        item: {
          Update: {
            TableName: this.table,
            Key: { ticket_id: ticketId, sk: TICKET_SK },
            UpdateExpression: expression,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      },
      ...events.map((e) => this.events.write(e)),
    ];
  }

  private putLookup(item: LookupItem): Write {
    return { label: 'lookup', item: { Put: { TableName: this.table, Item: item } } };
  }

  private deleteLookup(ticketId: string, value: string): Write {
    return { label: 'lookup', item: { Delete: { TableName: this.table, Key: lookupKey(ticketId, value) } } };
  }

  private putMessage(message: NewMessage): Write {
    const item: MessageItem = { ...message, sk: messageSortKey(message.created_at, message.message_id) };
    return {
      label: 'message',
      item: { Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(sk)' } },
    };
  }

  /**
   * The ticket exists and is not deleted; `open`: not closed either; `active`: neither closed nor pending (a
   * customer's message that would end a pending period must be planned as a change). Nothing is written.
   */
  private ticketCheck(ticketId: string, state: 'exists' | 'open' | 'active'): Write {
    let condition = 'attribute_exists(ticket_id) AND attribute_not_exists(#d)';
    const values: Record<string, string> = {};
    if (state !== 'exists') {
      condition += ' AND #st <> :closed';
      values[':closed'] = 'closed';
    }
    if (state === 'active') {
      condition += ' AND #st <> :pending';
      values[':pending'] = 'pending';
    }
    return {
      label: 'ticket',
      item: {
        ConditionCheck: {
          TableName: this.table,
          Key: { ticket_id: ticketId, sk: TICKET_SK },
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#d': 'deleted_at', ...(state !== 'exists' && { '#st': 'status' }) },
          ...(state !== 'exists' && { ExpressionAttributeValues: values }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    };
  }

  /** Closing at `closingAt`: no customer message may be stored at or after it (the activity item orders both). */
  private closingCheck(ticketId: string, closingAt: string): Write {
    return {
      label: 'activity',
      item: {
        ConditionCheck: {
          TableName: this.table,
          Key: { ticket_id: ticketId, sk: ACTIVITY_SK },
          ConditionExpression: 'attribute_not_exists(#lc) OR #lc < :closing',
          ExpressionAttributeNames: { '#lc': 'last_customer_message_at' },
          ExpressionAttributeValues: { ':closing': closingAt },
        },
      },
    };
  }

  /** When the customer last wrote, if ever (read before closing, to stamp a `closed_at` after it). */
  async lastCustomerMessageAt(ticketId: string): Promise<string | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { ticket_id: ticketId, sk: ACTIVITY_SK },
        ConsistentRead: true,
      }),
    );
    return out.Item?.last_customer_message_at as string | undefined;
  }

  /**
   * The update of a change, keeping the index keys in step: the derived list partitions when a dimension
   * moves (rewritten from the values the change knows when the current item is not given), `waiting_since`
   * removed on closing, and the tag lookup items added and removed when the tags change.
   */
  private changeUpdate(change: Change, now: string, version: number, current?: TicketItem) {
    const set: Record<string, unknown> = { ...change.set, updated_at: now };
    const remove = [...change.remove];
    const next: Record<string, unknown> | undefined = current && { ...current, ...change.set, updated_at: now };
    if (next) for (const f of change.remove) delete next[f];
    const moves = ['status', 'assigned_to', 'channel'].some((f) => f in change.set || change.remove.includes(f));
    if (moves) {
      const after = { ...(current ?? {}), ...change.set } as Record<string, unknown>;
      for (const f of change.remove) delete after[f];
      const derived = listIndexAttributes(after as Parameters<typeof listIndexAttributes>[0]);
      for (const attr of DERIVED_LIST_ATTRIBUTES) {
        const value = derived[attr];
        // Without the current item, a partition whose other dimensions the change does not know is kept.
        if (value === undefined) continue;
        set[attr] = value;
        if (next) next[attr] = value;
      }
    }
    // Closed, or waiting for the customer: no longer waiting for an agent.
    if (change.set.status === 'closed' || change.set.status === 'pending') {
      remove.push(WAITING_SINCE);
      if (next) delete next[WAITING_SINCE];
    }
    const lookups: Write[] = [];
    if (Array.isArray(change.set.tags) && current) {
      const before = new Set(current.tags ?? []);
      const after = new Set(change.set.tags as string[]);
      for (const t of after) {
        if (!before.has(t)) {
          const value = `${TAG_LOOKUP_PREFIX}${t}`;
          lookups.push(
            this.putLookup({ ...lookupKey(current.ticket_id, value), list_all: value, created_at: current.created_at }),
          );
        }
      }
      for (const t of before)
        if (!after.has(t)) lookups.push(this.deleteLookup(current.ticket_id, `${TAG_LOOKUP_PREFIX}${t}`));
    }
    if (next) next.version = version + 1;
    // Closing, or waiting for the customer: either must come after the customer's last message.
    const closingAt =
      change.set.status === 'closed'
        ? (change.set.closed_at as string)
        : change.set.status === 'pending'
          ? (change.set.pending_since as string)
          : undefined;
    return {
      update: { set, remove, bumpVersion: true } satisfies TicketUpdate,
      condition: { version, ...(closingAt && { closingAt }) } satisfies TicketCondition,
      next,
      lookups,
    };
  }

  /** The conditional update of the ticket item, labelled `ticket`. */
  private ticketWrite(ticketId: string, update: TicketUpdate, condition: TicketCondition): Write {
    const names: Record<string, string> = { '#d': 'deleted_at' };
    const values: Record<string, unknown> = {};
    const setClauses: string[] = [];
    let n = 0;
    for (const [attr, value] of Object.entries(update.set ?? {})) {
      names[`#s${n}`] = attr;
      values[`:s${n}`] = value;
      setClauses.push(`#s${n} = :s${n}`);
      n++;
    }
    for (const [attr, value] of Object.entries(update.setIfAbsent ?? {})) {
      names[`#s${n}`] = attr;
      values[`:s${n}`] = value;
      setClauses.push(`#s${n} = if_not_exists(#s${n}, :s${n})`);
      n++;
    }
    if (update.bumpVersion) {
      names['#v'] = 'version';
      values[':one'] = 1;
      setClauses.push('#v = #v + :one');
    }
    const removeClauses = (update.remove ?? []).map((attr, i) => {
      names[`#r${i}`] = attr;
      return `#r${i}`;
    });
    const conditions = ['attribute_exists(ticket_id)', 'attribute_not_exists(#d)'];
    if (condition.version !== undefined) {
      names['#v'] = 'version';
      values[':expected'] = condition.version;
      conditions.push('#v = :expected');
    }
    if (condition.open || condition.active) {
      names['#st'] = 'status';
      values[':closed'] = 'closed';
      conditions.push('#st <> :closed');
    }
    if (condition.active) {
      values[':pending'] = 'pending';
      conditions.push('#st <> :pending');
    }
    const expression = [
      setClauses.length ? `SET ${setClauses.join(', ')}` : '',
      removeClauses.length ? `REMOVE ${removeClauses.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    return {
      label: 'ticket',
      item: {
        Update: {
          TableName: this.table,
          Key: { ticket_id: ticketId, sk: TICKET_SK },
          UpdateExpression: expression,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    };
  }

  // ---- reads -----------------------------------------------------------------------------------------------

  /** The ticket item alone (never a message): what a token check and every change start from. */
  async getTicket(ticketId: string): Promise<TicketItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { ticket_id: ticketId, sk: TICKET_SK }, ConsistentRead: true }),
    );
    const item = out.Item as TicketItem | undefined;
    return item && !item.deleted_at ? item : undefined;
  }

  /** One page of a conversation, oldest first; `shared` leaves internal notes out (the customer's view). */
  async messagePage(
    ticketId: string,
    { limit, startKey, shared = false }: { limit: number; startKey?: Record<string, string>; shared?: boolean },
  ): Promise<MessagePage> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :msg)',
        ExpressionAttributeValues: {
          ':id': ticketId,
          ':msg': MESSAGE_SK_PREFIX,
          ...(shared && { ':internal': 'internal' }),
        },
        ...(shared && { FilterExpression: '#t <> :internal', ExpressionAttributeNames: { '#t': 'type' } }),
        ConsistentRead: true,
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    return {
      items: (out.Items ?? []) as MessageItem[],
      lastKey: out.LastEvaluatedKey as Record<string, string> | undefined,
    };
  }

  /** The last `count` messages, oldest first: one Query from the end of the conversation. */
  async recentMessages(ticketId: string, count: number): Promise<MessageItem[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :msg)',
        ExpressionAttributeValues: { ':id': ticketId, ':msg': MESSAGE_SK_PREFIX },
        ConsistentRead: true,
        ScanIndexForward: false,
        Limit: count,
      }),
    );
    return ((out.Items ?? []) as MessageItem[]).reverse();
  }

  /**
   * The message items of a ticket, oldest first, one page of DynamoDB at a time; `attributes` limits what is
   * read back (the export reads type and time, never the text).
   */
  async *messagePages(
    ticketId: string,
    attributes: ReadonlyArray<keyof MessageItem>,
    pageSize = 200,
  ): AsyncGenerator<MessageItem[]> {
    const names = Object.fromEntries(attributes.map((a, i) => [`#p${i}`, a]));
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :msg)',
          ExpressionAttributeValues: { ':id': ticketId, ':msg': MESSAGE_SK_PREFIX },
          ProjectionExpression: Object.keys(names).join(', '),
          ExpressionAttributeNames: names,
          Limit: pageSize,
          ExclusiveStartKey: startKey,
        }),
      );
      if (out.Items?.length) yield out.Items as MessageItem[];
      startKey = out.LastEvaluatedKey;
    } while (startKey);
  }

  /**
   * Removes every item of a deleted ticket's partition (messages, pending analysis), a page at a time, then
   * its tombstone. Runs after the tombstone is committed: no write can join the partition any more, so
   * nothing is left behind. Repeating it (after a crash) finishes the job.
   */
  async purge(ticketId: string): Promise<void> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :id',
          ExpressionAttributeValues: { ':id': ticketId },
          ProjectionExpression: 'ticket_id, sk',
          ConsistentRead: true,
          Limit: 25,
          ExclusiveStartKey: startKey,
        }),
      );
      const keys = ((out.Items ?? []) as Array<{ ticket_id: string; sk: string }>).filter((k) => k.sk !== TICKET_SK);
      if (keys.length > 0) {
        await batchWriteAll(
          this.doc,
          this.table,
          keys.map((k) => ({ DeleteRequest: { Key: { ticket_id: k.ticket_id, sk: k.sk } } })),
        );
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    await commit(
      this.doc,
      [
        {
          label: 'tombstone',
          item: {
            Delete: {
              TableName: this.table,
              Key: { ticket_id: ticketId, sk: TICKET_SK },
              ConditionExpression: 'attribute_exists(deleted_at)',
            },
          },
        },
      ],
      transactionToken(`purge:${ticketId}`),
    ).catch((err) => {
      // Already purged by an earlier attempt: done.
      if (!(err instanceof TransactionCancelled)) throw err;
    });
  }

  /** True when the ticket is a tombstone waiting for its purge. */
  async isDeleted(ticketId: string): Promise<boolean> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { ticket_id: ticketId, sk: TICKET_SK }, ConsistentRead: true }),
    );
    return Boolean(out.Item?.deleted_at);
  }
}

/** Why the ticket's condition failed, from the item as it was (ReturnValuesOnConditionCheckFailure). */
function conflictReason(old: TicketItem | undefined, writes: readonly Write[]): ConflictReason {
  if (!old || old.deleted_at) return 'missing';
  const write = writes.find((w) => w.label === 'ticket')?.item;
  const values = (write?.Update?.ExpressionAttributeValues ??
    write?.ConditionCheck?.ExpressionAttributeValues ??
    {}) as Record<string, unknown>;
  if (values[':expected'] !== undefined && old.version !== values[':expected']) return 'version';
  if (values[':closed'] !== undefined && old.status === 'closed') return 'closed';
  if (values[':pending'] !== undefined && old.status === 'pending') return 'pending';
  return 'version';
}
