/**
 * The event log's table: the only code that reads or writes event items. Other repositories never write an
 * event themselves: they add `write(event)` to the transaction of the change it describes.
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { EVENTS_FEED_INDEX, eventsTable } from '../db/tables.js';
import type { Write } from '../db/transaction.js';
import { feedBucket } from './ids.js';
import type { Actor, EventType, TicketEvent } from './model.js';

const DAY_SECONDS = 86_400;

interface EventItem {
  ticket_id: string;
  event_id: string;
  type: EventType;
  created_at: string;
  actor: Actor;
  data: Record<string, unknown>;
  feed_bucket: string;
  expires_at: number;
}

export interface EventPageResult {
  events: TicketEvent[];
  /** Where the next page starts, when there may be one. */
  lastKey: Record<string, string> | undefined;
}

function toEvent(item: EventItem): TicketEvent {
  return {
    id: item.event_id,
    type: item.type,
    created_at: item.created_at,
    ticket_id: item.ticket_id,
    actor: item.actor,
    data: item.data ?? {},
  };
}

export class EventLog {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly retentionDays: number,
  ) {}

  /** The put of an event, for the transaction of the change it describes (a new id never overwrites). */
  write(event: TicketEvent): Write {
    const item: EventItem = {
      ticket_id: event.ticket_id,
      event_id: event.id,
      type: event.type,
      created_at: event.created_at,
      actor: event.actor,
      data: event.data,
      feed_bucket: feedBucket(event.created_at),
      expires_at: Math.floor(Date.parse(event.created_at) / 1000) + this.retentionDays * DAY_SECONDS,
    };
    return {
      label: `event:${event.type}`,
      item: {
        Put: {
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(event_id)',
        },
      },
    };
  }

  /** One page of a ticket's events, oldest first. */
  async ofTicket(ticketId: string, limit: number, startKey?: Record<string, string>): Promise<EventPageResult> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'ticket_id = :id',
        ExpressionAttributeValues: { ':id': ticketId },
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    const events = ((out.Items ?? []) as EventItem[]).map(toEvent);
    return { events, lastKey: out.LastEvaluatedKey as Record<string, string> | undefined };
  }

  /** Events of one day after `afterId` (exclusive), in id order: one Query of the feed index. */
  async feed(day: string, afterId: string | undefined, limit: number): Promise<TicketEvent[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: EVENTS_FEED_INDEX.name,
        KeyConditionExpression: afterId ? '#b = :b AND #id > :after' : '#b = :b',
        ExpressionAttributeNames: {
          '#b': EVENTS_FEED_INDEX.partitionAttribute,
          ...(afterId && { '#id': EVENTS_FEED_INDEX.sortAttribute }),
        },
        ExpressionAttributeValues: { ':b': day, ...(afterId && { ':after': afterId }) },
        Limit: limit,
      }),
    );
    return ((out.Items ?? []) as EventItem[]).map(toEvent);
  }

  /**
   * Events with `from < id < to` in id order, one Query page: of one day's feed bucket, or of one ticket's
   * partition when `ticketId` is given. `types` filters (a FilterExpression on a Query, never a Scan).
   * `reached` is the last id the page examined (filtered ones included), where the next page starts.
   */
  async range(opts: {
    day?: string;
    ticketId?: string;
    from: string;
    to: string;
    limit: number;
    types?: readonly string[];
  }): Promise<{ events: TicketEvent[]; reached: string | undefined; more: boolean }> {
    const byTicket = opts.ticketId !== undefined;
    // Partitions starting with `#` hold no ticket's events (the account audit trail): never read as one.
    if (opts.ticketId?.startsWith('#')) return { events: [], reached: undefined, more: false };
    const typeNames = opts.types?.length ? opts.types : undefined;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        ...(!byTicket && { IndexName: EVENTS_FEED_INDEX.name }),
        // Ids are `<time>#<hex>`: `from` and `to` never equal one, except `from` when it is an event id.
        KeyConditionExpression: '#p = :p AND #id BETWEEN :from AND :to',
        ...(typeNames && {
          FilterExpression: `#type IN (${typeNames.map((_, n) => `:t${n}`).join(', ')})`,
        }),
        ExpressionAttributeNames: {
          '#p': byTicket ? eventsTable.partitionKey.name : EVENTS_FEED_INDEX.partitionAttribute,
          '#id': EVENTS_FEED_INDEX.sortAttribute,
          ...(typeNames && { '#type': 'type' }),
        },
        ExpressionAttributeValues: {
          ':p': byTicket ? opts.ticketId : opts.day,
          ':from': opts.from,
          ':to': opts.to,
          ...Object.fromEntries((typeNames ?? []).map((t, n) => [`:t${n}`, t])),
        },
        Limit: opts.limit + 1,
      }),
    );
    const items = ((out.Items ?? []) as EventItem[]).filter((i) => i.event_id !== opts.from);
    const events = items.slice(0, opts.limit).map(toEvent);
    const lastKey = out.LastEvaluatedKey as Record<string, string> | undefined;
    const more = items.length > opts.limit || lastKey !== undefined;
    // A full page stops at its last event; otherwise at what DynamoDB examined (filtered items included).
    const reached =
      items.length > opts.limit ? events[events.length - 1]?.id : (lastKey?.event_id ?? events[events.length - 1]?.id);
    return { events, reached, more };
  }

  /** Key attributes of a page cursor over a ticket's events. */
  static readonly pageKeys = [eventsTable.partitionKey.name, eventsTable.sortKey?.name as string];
}
