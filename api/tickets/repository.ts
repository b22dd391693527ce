/**
 * The only code that talks to the tickets table. One partition per ticket: the ticket item (`sk = TICKET`)
 * and one item per message (`sk = MSG#<created_at>#<message_id>`), so a ticket with its conversation is one
 * Query and a new message is one small PutItem. Every write is conditional.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { batchWriteAll, chunks } from '../db/batch.js';
import {
  COMPOSITE_LIST_ATTRIBUTES,
  CREATED_AT,
  type ListIndex,
  listIndexAttributes,
  MESSAGE_SK_PREFIX,
  TICKET_SK,
} from '../db/tables.js';
import { isReply } from './metrics.js';
import type { Analytics, Channel, MessageType, Priority, Status } from './model.js';
import type { Change, StoredEvent } from './rules.js';

export interface MessageItem {
  ticket_id: string;
  sk: string;
  message_id: string;
  type: MessageType;
  content: string;
  author_name: string;
  author_email?: string;
  created_at: string;
}

/** The first customer message lives in the ticket item, so creating a ticket is one atomic put. */
export type InitialMessage = Omit<MessageItem, 'ticket_id' | 'sk'>;

export interface TicketItem {
  ticket_id: string;
  sk: typeof TICKET_SK;
  status: Status;
  priority: Priority;
  channel: Channel;
  customer_name?: string;
  customer_email?: string;
  assigned_to?: string;
  tags: string[];
  created_at: string;
  updated_at: string;
  closed_at?: string;
  resolution_seconds?: number;
  analytics?: Analytics;
  /** When the first agent or assistant reply was written (kept by addMessage; read by export and analytics). */
  first_response_at?: string;
  version: number;
  access_token_hash?: string;
  initial_message?: InitialMessage;
  events?: StoredEvent[];
  [indexAttribute: string]: unknown;
}

export interface TicketRecord {
  ticket: TicketItem;
  messages: MessageItem[];
}

/** The write's condition did not hold: the ticket is gone or its version moved on. */
export class WriteConflict extends Error {
  override name = 'WriteConflict';
}

/** History kept on the ticket item; bounded so the item stays far below DynamoDB's 400 KB. */
const MAX_EVENTS = 500;

export const messageSortKey = (createdAt: string, messageId: string) => `${MESSAGE_SK_PREFIX}${createdAt}#${messageId}`;

const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException || (err as Error)?.name === 'ConditionalCheckFailedException';

export interface ListPage {
  items: TicketItem[];
  /** Key of the last returned item when more may follow. */
  lastKey: Record<string, string> | undefined;
}

/** `<partition> = :pk [AND created_at <range>]`: date ranges are always part of the key condition. */
function keyCondition(index: ListIndex, partitionValue: string, range: { from?: string; to?: string }) {
  const names: Record<string, string> = { '#pk': index.partitionAttribute, '#c': CREATED_AT };
  const values: Record<string, string> = { ':pk': partitionValue };
  let condition = '#pk = :pk';
  if (range.from && range.to) {
    condition += ' AND #c BETWEEN :from AND :to';
    Object.assign(values, { ':from': range.from, ':to': range.to });
  } else if (range.from) {
    condition += ' AND #c >= :from';
    values[':from'] = range.from;
  } else if (range.to) {
    condition += ' AND #c <= :to';
    values[':to'] = range.to;
  } else {
    delete names['#c'];
  }
  return { KeyConditionExpression: condition, ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}

export class TicketRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Index partition attributes for a ticket's list filters. */
  static withIndexAttributes<T extends TicketItem>(item: T): T {
    return { ...item, ...listIndexAttributes(item) };
  }

  /** Puts a new ticket; false when the id is taken (the caller draws another id). */
  async create(item: TicketItem): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: TicketRepository.withIndexAttributes(item),
          ConditionExpression: 'attribute_not_exists(ticket_id)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async getTicket(ticketId: string): Promise<TicketItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { ticket_id: ticketId, sk: TICKET_SK }, ConsistentRead: true }),
    );
    return out.Item as TicketItem | undefined;
  }

  /** The ticket and its whole conversation, oldest message first. */
  async getWithMessages(ticketId: string): Promise<TicketRecord | undefined> {
    const items = await this.partition(ticketId);
    const ticket = items.find((i) => i.sk === TICKET_SK) as TicketItem | undefined;
    if (!ticket) return undefined;
    const messages = items.filter((i) => String(i.sk).startsWith(MESSAGE_SK_PREFIX)) as unknown as MessageItem[];
    return { ticket, messages };
  }

  private async partition(ticketId: string, keysOnly = false): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :id',
          ExpressionAttributeValues: { ':id': ticketId },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          ...(keysOnly && { ProjectionExpression: 'ticket_id, sk' }),
        }),
      );
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  async addMessage(message: MessageItem): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: message, ConditionExpression: 'attribute_not_exists(sk)' }),
    );
    if (isReply(message.type)) await this.recordFirstResponse(message.ticket_id, message.created_at);
  }

  /**
   * Keeps the earliest reply time on the ticket item, so the export and the analytics summary need no
   * Query per ticket. Like analytics, it is derived data: no version bump, no updated_at change.
   */
  private async recordFirstResponse(ticketId: string, at: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ticket_id: ticketId, sk: TICKET_SK },
          UpdateExpression: 'SET first_response_at = :at',
          ConditionExpression:
            'attribute_exists(ticket_id) AND (attribute_not_exists(first_response_at) OR first_response_at > :at)',
          ExpressionAttributeValues: { ':at': at },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  /**
   * The message items of a ticket, oldest first (the first customer message may live in the ticket item);
   * `attributes` limits what is read back (e.g. type and time, without the text).
   */
  async messages(ticketId: string, attributes?: ReadonlyArray<keyof MessageItem>): Promise<MessageItem[]> {
    const items: MessageItem[] = [];
    const names = attributes && Object.fromEntries(attributes.map((a, i) => [`#p${i}`, a]));
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :msg)',
          ExpressionAttributeValues: { ':id': ticketId, ':msg': MESSAGE_SK_PREFIX },
          ...(names && { ProjectionExpression: Object.keys(names).join(', '), ExpressionAttributeNames: names }),
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...((out.Items ?? []) as MessageItem[]));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  /**
   * Applies a change to the ticket read as `current`, only if nobody changed it since (same `version`).
   * Bumps the version, stamps `updated_at`, appends the events and keeps the list-index attributes in step.
   * Throws WriteConflict when the condition fails.
   */
  async update(current: TicketItem, change: Change, now: string): Promise<TicketItem> {
    const set: Record<string, unknown> = { ...change.set, updated_at: now };
    const remove = [...change.remove];
    if (change.events.length > 0) set.events = [...(current.events ?? []), ...change.events].slice(-MAX_EVENTS);

    const touchesFilters = ['status', 'assigned_to'].some((f) => f in change.set || change.remove.includes(f));
    if (touchesFilters) {
      const next = { ...current, ...change.set };
      for (const f of change.remove) delete next[f];
      const indexValues = listIndexAttributes(next);
      for (const attr of COMPOSITE_LIST_ATTRIBUTES) {
        if (indexValues[attr] !== undefined) set[attr] = indexValues[attr];
        else if (current[attr] !== undefined) remove.push(attr);
      }
    }

    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':expected': current.version, ':one': 1 };
    const setClauses = Object.entries(set).map(([attr, value], i) => {
      names[`#s${i}`] = attr;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    setClauses.push('#version = #version + :one');
    const removeClauses = remove.map((attr, i) => {
      names[`#r${i}`] = attr;
      return `#r${i}`;
    });
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ticket_id: current.ticket_id, sk: TICKET_SK },
          UpdateExpression: `SET ${setClauses.join(', ')}${removeClauses.length ? ` REMOVE ${removeClauses.join(', ')}` : ''}`,
          ConditionExpression: 'attribute_exists(ticket_id) AND #version = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as TicketItem;
    } catch (err) {
      if (isConditionFailure(err)) throw new WriteConflict(`ticket ${current.ticket_id} changed or was deleted`);
      throw err;
    }
  }

  /**
   * Writes only the analytics attributes: no version check and no version bump, so an agent's edit made
   * while the model was thinking is neither lost nor turned into a 412. `basis` is the time of the last
   * message the analysis read: an analysis of an older state of the conversation never replaces a newer one.
   * False when the ticket is gone or a newer analysis is already stored.
   */
  async setAnalytics(ticketId: string, analytics: Analytics, basis?: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ticket_id: ticketId, sk: TICKET_SK },
          UpdateExpression: basis ? 'SET analytics = :a, analytics_basis = :b' : 'SET analytics = :a',
          ConditionExpression: basis
            ? 'attribute_exists(ticket_id) AND (attribute_not_exists(analytics_basis) OR analytics_basis <= :b)'
            : 'attribute_exists(ticket_id)',
          ExpressionAttributeValues: { ':a': analytics, ...(basis && { ':b': basis }) },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** One page of an index, newest first; `limit + 1` items are read to know whether another page exists. */
  async list(
    index: ListIndex,
    partitionValue: string,
    range: { from?: string; to?: string },
    limit: number,
    startKey?: Record<string, string>,
  ): Promise<ListPage> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: index.name,
        ...keyCondition(index, partitionValue, range),
        ScanIndexForward: false,
        Limit: limit + 1,
        ExclusiveStartKey: startKey,
      }),
    );
    const items = (out.Items ?? []) as TicketItem[];
    if (items.length <= limit) return { items, lastKey: undefined };
    const page = items.slice(0, limit);
    const last = page[page.length - 1] as TicketItem;
    return { items: page, lastKey: TicketRepository.indexKey(index, last) };
  }

  /**
   * Every ticket of an index range, newest first, one DynamoDB page at a time (`pageSize` items at most):
   * callers stream or fold the pages, so memory stays constant whatever the range holds. `attributes`
   * narrows what comes back over the wire (the read cost is the same).
   */
  async *pages(
    index: ListIndex,
    partitionValue: string,
    range: { from?: string; to?: string },
    { pageSize, attributes }: { pageSize: number; attributes?: readonly string[] },
  ): AsyncGenerator<TicketItem[]> {
    const condition = keyCondition(index, partitionValue, range);
    const names = { ...condition.ExpressionAttributeNames };
    let projection: string | undefined;
    if (attributes) {
      projection = attributes
        .map((a, i) => {
          names[`#p${i}`] = a;
          return `#p${i}`;
        })
        .join(', ');
    }
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index.name,
          ...condition,
          ExpressionAttributeNames: names,
          ...(projection && { ProjectionExpression: projection }),
          ScanIndexForward: false,
          Limit: pageSize,
          ExclusiveStartKey: startKey,
        }),
      );
      startKey = out.LastEvaluatedKey;
      if (out.Items?.length) yield out.Items as TicketItem[];
    } while (startKey);
  }

  /** The ExclusiveStartKey that resumes an index Query after `item`. */
  static indexKey(index: ListIndex, item: TicketItem): Record<string, string> {
    return {
      ticket_id: item.ticket_id,
      sk: item.sk,
      [index.partitionAttribute]: String(item[index.partitionAttribute]),
      [CREATED_AT]: item.created_at,
    };
  }

  /**
   * Deletes a ticket and its messages. The ticket item goes first, so the ticket disappears from every view
   * at once; a crash afterwards leaves only unreachable messages, which a repeated delete removes.
   * Returns false when nothing was there.
   */
  async delete(ticketId: string): Promise<boolean> {
    const keys = (await this.partition(ticketId, true)) as Array<{ ticket_id: string; sk: string }>;
    if (keys.length === 0) return false;
    if (keys.some((k) => k.sk === TICKET_SK)) {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { ticket_id: ticketId, sk: TICKET_SK } }));
    }
    const rest = keys.filter((k) => k.sk !== TICKET_SK);
    for (const chunk of chunks(rest, 25)) {
      await batchWriteAll(
        this.doc,
        this.table,
        chunk.map((k) => ({ DeleteRequest: { Key: { ticket_id: k.ticket_id, sk: k.sk } } })),
      );
    }
    return true;
  }
}
