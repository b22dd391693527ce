/**
 * The ticket lists: which index answers a set of filters (one Query on one partition, never a Scan), and the
 * page reads: the index's keys first, then the tickets by key in one BatchGetItem, in index order. A ticket
 * that left the list while the index caught up is left out.
 */
import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  CREATED_AT,
  CUSTOMER_LOOKUP_PREFIX,
  type ListDimension,
  type ListIndex,
  type ListOrder,
  listDimensions,
  listIndexFor,
  listPartitionValue,
  TAG_LOOKUP_PREFIX,
  TICKET_SK,
  UPDATED_AT,
  WAITING_SINCE,
} from '../db/tables.js';
import { customerKey, customerKeys } from './customers.js';
import type { TicketItem } from './repository.js';

/**
 * What a list reads: one index, one partition, a range of its sort key, in one direction. `check` tells
 * whether a ticket item read after the index (which is eventually consistent) still belongs to the list.
 */
export interface ListTarget {
  index: ListIndex;
  partitionValue: string;
  range: { from?: string; to?: string };
  ascending: boolean;
}

/** The filters a list may combine (validated values, see ListQuery). */
export interface ListFilters {
  status?: string;
  channel?: string;
  /** An agent e-mail, or `none` for unassigned tickets. */
  assigned_to?: string;
  priority?: string;
  tag?: string;
  customer?: string;
  created_from?: string;
  created_to?: string;
  updated_from?: string;
  updated_to?: string;
  sort?: 'created' | 'updated' | 'waiting';
}

export interface ListPage {
  items: TicketItem[];
  /** Key of the last returned item when more may follow. */
  lastKey: Record<string, string> | undefined;
}

/** Keys a BatchGetItem holds at most (and so a list page: a page size is at most 100). */
const MAX_BATCH_GET = 100;

/** `<partition> = :pk [AND <sort key> <range>]`: date ranges are always part of the key condition. */
function keyCondition({ index, partitionValue, range }: ListTarget) {
  const names: Record<string, string> = { '#pk': index.partitionAttribute, '#s': index.sortAttribute };
  const values: Record<string, string> = { ':pk': partitionValue };
  let condition = '#pk = :pk';
  if (range.from && range.to) {
    condition += ' AND #s BETWEEN :from AND :to';
    Object.assign(values, { ':from': range.from, ':to': range.to });
  } else if (range.from) {
    condition += ' AND #s >= :from';
    values[':from'] = range.from;
  } else if (range.to) {
    condition += ' AND #s <= :to';
    values[':to'] = range.to;
  } else {
    delete names['#s'];
  }
  return { KeyConditionExpression: condition, ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}

/**
 * The Query answering these filters, or undefined when the combination has no index (docs/data.md lists
 * those that do). Newest created first by default; `sort=updated` (implied by an updated range) newest
 * change first; `sort=waiting` oldest unanswered customer message first.
 */
export function listTarget(filters: ListFilters): ListTarget | undefined {
  const sort = filters.sort ?? (filters.updated_from || filters.updated_to ? 'updated' : 'created');
  const created = { from: filters.created_from, to: filters.created_to };
  const updated = { from: filters.updated_from, to: filters.updated_to };
  const hasCreated = created.from !== undefined || created.to !== undefined;
  const hasUpdated = updated.from !== undefined || updated.to !== undefined;
  const values: Partial<Record<ListDimension, string>> = {
    ...(filters.assigned_to !== undefined && { assignee: filters.assigned_to }),
    ...(filters.status !== undefined && { status: filters.status }),
    ...(filters.channel !== undefined && { channel: filters.channel }),
    ...(filters.priority !== undefined && { priority: filters.priority }),
  };
  const dimensions = Object.keys(values) as ListDimension[];
  const lookups = [filters.tag, filters.customer].filter((v) => v !== undefined).length;
  const onIndex = (order: ListOrder, range: ListTarget['range'], ascending = false): ListTarget | undefined => {
    const index = listIndexFor(dimensions, order);
    const partitionValue = index && listPartitionValue(index, values);
    return index && partitionValue ? { index, partitionValue, range, ascending } : undefined;
  };
  if (sort === 'created') {
    if (hasUpdated) return undefined;
    if (lookups === 0) return onIndex(CREATED_AT, created);
    if (lookups > 1 || dimensions.length > 0) return undefined;
    const all = listIndexFor([], CREATED_AT) as ListIndex;
    const partitionValue =
      filters.tag !== undefined
        ? `${TAG_LOOKUP_PREFIX}${filters.tag}`
        : `${CUSTOMER_LOOKUP_PREFIX}${customerKey(filters.customer as string)}`;
    return { index: all, partitionValue, range: created, ascending: false };
  }
  if (lookups > 0 || hasCreated) return undefined;
  if (sort === 'updated') return onIndex(UPDATED_AT, updated);
  return hasUpdated ? undefined : onIndex(WAITING_SINCE, {}, true);
}

/** Whether a ticket item read after the index still belongs to the list (deleted or moved meanwhile: no). */
export function belongs(target: ListTarget, item: TicketItem | undefined): item is TicketItem {
  if (!item || item.deleted_at || item.sk !== TICKET_SK) return false;
  const { index, partitionValue, range } = target;
  const sortValue = item[index.sortAttribute];
  if (typeof sortValue !== 'string') return false;
  if ((range.from && sortValue < range.from) || (range.to && sortValue > range.to)) return false;
  if (partitionValue.startsWith(TAG_LOOKUP_PREFIX)) {
    return (item.tags ?? []).includes(partitionValue.slice(TAG_LOOKUP_PREFIX.length));
  }
  if (partitionValue.startsWith(CUSTOMER_LOOKUP_PREFIX)) {
    return customerKeys(item).includes(partitionValue.slice(CUSTOMER_LOOKUP_PREFIX.length));
  }
  return listPartitionValue(index, listDimensions(item)) === partitionValue;
}

/** Keys a list cursor on `index` must carry. */
export function listKeys(index: ListIndex): string[] {
  return ['ticket_id', 'sk', index.partitionAttribute, index.sortAttribute];
}

// ---- the unit of work --------------------------------------------------------------------------------

/** The ExclusiveStartKey that resumes an index Query after `entry` (an index entry or an item). */
export function indexKey(index: ListIndex, entry: Record<string, unknown>): Record<string, string> {
  return {
    ticket_id: String(entry.ticket_id),
    sk: String(entry.sk),
    [index.partitionAttribute]: String(entry[index.partitionAttribute]),
    [index.sortAttribute]: String(entry[index.sortAttribute]),
  };
}

export class TicketLists {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /**
   * One page of a list: `limit + 1` index entries (keys only) to know whether another page exists, then the
   * page's ticket items in one BatchGetItem, in index order. A ticket that left the list between the index
   * and the read (deleted, or moved by a change the index has not caught up with) is left out.
   */
  async list(target: ListTarget, limit: number, startKey?: Record<string, string>): Promise<ListPage> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: target.index.name,
        ...keyCondition(target),
        ScanIndexForward: target.ascending,
        Limit: limit + 1,
        ExclusiveStartKey: startKey,
      }),
    );
    const entries = (out.Items ?? []) as Array<Record<string, string>>;
    const page = entries.slice(0, limit);
    const items = (await this.ticketsByIds(page.map((e) => e.ticket_id as string))).filter((t) => belongs(target, t));
    const last = page[page.length - 1];
    return {
      items,
      lastKey: entries.length > limit && last ? indexKey(target.index, last) : undefined,
    };
  }

  /**
   * Every ticket of a list, one DynamoDB page at a time (`pageSize` items at most, 100 at most): callers
   * stream or fold the pages, so memory stays constant whatever the range holds. `attributes` narrows what
   * the item reads bring back over the wire.
   */
  async *pages(
    target: ListTarget,
    { pageSize, attributes }: { pageSize: number; attributes?: readonly string[] },
  ): AsyncGenerator<TicketItem[]> {
    // What `belongs` needs to tell a ticket that left the list.
    const needed = attributes && [
      ...new Set([
        ...attributes,
        'ticket_id',
        'sk',
        'deleted_at',
        'status',
        'channel',
        'priority',
        'assigned_to',
        'tags',
        'customer_email',
        'customer_phone',
        'customer_external_id',
        target.index.sortAttribute,
      ]),
    ];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: target.index.name,
          ...keyCondition(target),
          ScanIndexForward: target.ascending,
          Limit: Math.min(pageSize, MAX_BATCH_GET),
          ExclusiveStartKey: startKey,
        }),
      );
      startKey = out.LastEvaluatedKey;
      const ids = ((out.Items ?? []) as Array<{ ticket_id: string }>).map((e) => e.ticket_id);
      const items = (await this.ticketsByIds(ids, needed)).filter((t) => belongs(target, t));
      if (items.length) yield items;
    } while (startKey);
  }

  /**
   * Ticket items by id (at most 100), in the order given; absent ones are undefined. One BatchGetItem, its
   * unprocessed keys sent again with backoff.
   */
  private async ticketsByIds(
    ids: readonly string[],
    attributes?: readonly string[],
  ): Promise<Array<TicketItem | undefined>> {
    if (ids.length === 0) return [];
    const names = attributes && Object.fromEntries(attributes.map((a, i) => [`#p${i}`, a]));
    const found = new Map<string, TicketItem>();
    let keys: Array<Record<string, unknown>> = [...new Set(ids)].map((id) => ({ ticket_id: id, sk: TICKET_SK }));
    for (let round = 0; keys.length > 0; round++) {
      if (round >= 8) throw new Error(`${keys.length} ticket reads still unprocessed after 8 rounds`);
      if (round > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 25 * 2 ** round)));
      const out = await this.doc.send(
        new BatchGetCommand({
          RequestItems: {
            [this.table]: {
              Keys: keys,
              ...(names && { ProjectionExpression: Object.keys(names).join(', '), ExpressionAttributeNames: names }),
            },
          },
        }),
      );
      for (const item of out.Responses?.[this.table] ?? []) found.set(String(item.ticket_id), item as TicketItem);
      keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return ids.map((id) => found.get(id));
  }
}
