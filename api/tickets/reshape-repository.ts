/**
 * Moves tickets stored by earlier versions to the current shape, for the operator command `npm run
 * migrate:shape` (the service never uses this). Earlier versions kept the first customer message inside the
 * ticket item (`initial_message`) and the ticket's history there too (`events`, which grew with every change).
 * Per ticket, one transaction: the first message becomes a message item, the history becomes events of the
 * log (`ticket.created`, then one `ticket.updated` per recorded change), and the ticket item loses both,
 * conditional on the version that was read. Tickets of the earlier list design (one index per filter
 * combination, none for unassigned tickets) get the current list keys in the same transaction: the derived
 * partition attributes, `waiting_since` when a customer message is still unanswered, and one lookup item per
 * tag and per customer identity; the retired attributes are removed. Every id is derived from the ticket, so a rerun writes the same
 * items again and converges; a ticket changed meanwhile is left for the next run.
 *
 * Earlier versions also stamped `first_response_at` with the first agent *or assistant* reply (the assistant's
 * acknowledgement included). A ticket with that stamp and no `first_response_seconds` gets its response times
 * from its conversation: the first agent reply (`first_response_at`, `first_response_seconds`,
 * `agent_replied_at`; the stamp is removed when no agent replied) and the assistant's first real answer
 * (`first_assistant_response_*`). No ticket could be pending then: the figures are plain times from creation.
 */
import { createHash } from 'node:crypto';
import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { isAcknowledgement } from '../assistant/persona.js';
import {
  ACTIVITY_SK,
  LIST_ALL_VALUE,
  type ListIndex,
  listIndexAttributes,
  listIndexFor,
  MESSAGE_SK_PREFIX,
  RETIRED_LIST_ATTRIBUTES,
  TICKET_SK,
  WAITING_SINCE,
} from '../db/tables.js';
import { commit, MAX_TRANSACTION_ITEMS, TransactionCancelled, type Write } from '../db/transaction.js';
import type { EventLog } from '../events/log.js';
import type { TicketEvent } from '../events/model.js';
import { type ResponseTimes, ResponseTimesFold, secondsBetween } from './metrics.js';
import { messageSortKey, type TicketItem, TicketRepository } from './repository.js';

/** What earlier versions stored in the ticket item. */
interface LegacyShape {
  initial_message?: {
    message_id: string;
    type: string;
    content: string;
    author_name: string;
    author_email?: string;
    created_at: string;
  };
  events?: Array<{ type: string; at: string; by: string; from?: unknown; to?: unknown }>;
}

const FIELD_OF: Record<string, string> = {
  status_changed: 'status',
  assigned: 'assigned_to',
  priority_changed: 'priority',
  tags_changed: 'tags',
};

export type ReshapeResult = 'reshaped' | 'current' | 'changed_meanwhile';

const stableId = (at: string, ...parts: string[]) =>
  `${at}#${createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12)}`;

export class TicketReshapeRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly events: EventLog,
  ) {}

  /**
   * Every ticket item, a page at a time: the keys from the unfiltered list index (one Query, never a Scan;
   * tickets of every earlier shape carry its `list_all` key), then the items by key.
   */
  async *tickets(pageSize = 100): AsyncGenerator<Array<TicketItem & LegacyShape>> {
    const index = listIndexFor([]) as ListIndex;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index.name,
          KeyConditionExpression: '#pk = :all',
          ExpressionAttributeNames: { '#pk': index.partitionAttribute },
          ExpressionAttributeValues: { ':all': LIST_ALL_VALUE },
          Limit: Math.min(pageSize, 100),
          ExclusiveStartKey: startKey,
        }),
      );
      const ids = (out.Items ?? []).map((i) => String(i.ticket_id));
      const items = await this.ticketItems(ids);
      if (items.length) yield items;
      startKey = out.LastEvaluatedKey;
    } while (startKey);
  }

  /** The ticket items of these ids (at most 100), read consistently. */
  private async ticketItems(ids: string[]): Promise<Array<TicketItem & LegacyShape>> {
    const found: Array<TicketItem & LegacyShape> = [];
    let keys: Array<Record<string, unknown>> = ids.map((id) => ({ ticket_id: id, sk: TICKET_SK }));
    for (let round = 0; keys.length > 0; round++) {
      if (round >= 8) throw new Error(`${keys.length} reads still unprocessed after 8 rounds`);
      if (round > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(2000, 50 * 2 ** round)));
      const out = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
      );
      found.push(...((out.Responses?.[this.table] ?? []) as Array<TicketItem & LegacyShape>));
      keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return found.filter((t) => !t.deleted_at);
  }

  /** The list attributes the ticket item lacks (or has wrong) and the retired ones it still carries. */
  static listKeyChanges(ticket: TicketItem): { set: Record<string, string>; remove: string[] } {
    const set = Object.fromEntries(Object.entries(listIndexAttributes(ticket)).filter(([k, v]) => ticket[k] !== v));
    return { set, remove: RETIRED_LIST_ATTRIBUTES.filter((a) => ticket[a] !== undefined) };
  }

  /** Whether the ticket is in an earlier shape (what a dry run counts). */
  static needsReshape(ticket: TicketItem & LegacyShape): boolean {
    const keys = TicketReshapeRepository.listKeyChanges(ticket);
    return Boolean(
      ticket.initial_message ||
        ticket.events ||
        Object.keys(keys.set).length ||
        keys.remove.length ||
        TicketReshapeRepository.needsResponseTimes(ticket),
    );
  }

  /**
   * The oldest customer message after the last agent reply, if any: the conversation read newest first,
   * types and times only, until an agent reply (so only the unanswered end is read).
   */
  private async waitingSince(ticketId: string, first: LegacyShape['initial_message']): Promise<string | undefined> {
    let oldest: string | undefined;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :msg)',
          ProjectionExpression: '#t, created_at',
          ExpressionAttributeNames: { '#t': 'type' },
          ExpressionAttributeValues: { ':id': ticketId, ':msg': MESSAGE_SK_PREFIX },
          ScanIndexForward: false,
          Limit: 50,
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const m of out.Items ?? []) {
        if (m.type === 'agent') return oldest;
        if (m.type === 'customer') oldest = String(m.created_at);
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    // The first message of the oldest shape is still inside the ticket item: it is the oldest of all.
    return first?.type === 'customer' ? first.created_at : oldest;
  }

  /** The response times of the ticket's conversation, read a page at a time (types, times, assistant texts). */
  private async conversationTimes(ticket: TicketItem): Promise<ResponseTimes> {
    const fold = new ResponseTimesFold(ticket.created_at);
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :msg)',
          ProjectionExpression: '#t, created_at, content',
          ExpressionAttributeNames: { '#t': 'type' },
          ExpressionAttributeValues: { ':id': ticket.ticket_id, ':msg': 'MSG#' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const m of out.Items ?? []) {
        fold.add({
          type: m.type,
          created_at: m.created_at,
          acknowledgement: m.type === 'assistant' && isAcknowledgement(String(m.content ?? '')),
        });
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return fold.result();
  }

  /** True when the ticket's response times were stamped by an earlier version (see the module comment). */
  static needsResponseTimes(ticket: TicketItem): boolean {
    return (
      ticket.first_response_seconds === undefined &&
      (ticket.first_response_at !== undefined || ticket.agent_replied_at !== undefined)
    );
  }

  async reshape(ticket: TicketItem & LegacyShape): Promise<ReshapeResult> {
    const first = ticket.initial_message;
    const history = ticket.events;
    const times = TicketReshapeRepository.needsResponseTimes(ticket) ? await this.conversationTimes(ticket) : undefined;
    const keys = TicketReshapeRepository.listKeyChanges(ticket);
    const listKeysOld = Object.keys(keys.set).length > 0 || keys.remove.length > 0;
    if (!first && !history && !times && !listKeysOld) return 'current';

    const id = ticket.ticket_id;
    const events: TicketEvent[] = [];
    if (history) {
      events.push({
        id: stableId(ticket.created_at, id, 'created'),
        type: 'ticket.created',
        created_at: ticket.created_at,
        ticket_id: id,
        actor: 'customer',
        data: { channel: ticket.channel, ...(first && { message_id: first.message_id }) },
      });
      history.forEach((e, n) => {
        events.push({
          id: stableId(e.at, id, String(n)),
          type: 'ticket.updated',
          created_at: e.at,
          ticket_id: id,
          actor: e.by,
          data: { changes: { [FIELD_OF[e.type] ?? e.type]: { before: e.from ?? null, after: e.to ?? null } } },
        });
      });
    }
    const eventWrites = events.map((e) => this.events.write(e));
    // Puts of the same item with the same values: a rerun rewrites them harmlessly.
    for (const w of eventWrites) delete w.item.Put?.ConditionExpression;

    const last: Write[] = [];
    if (first) {
      last.push({
        label: 'message',
        item: {
          Put: {
            TableName: this.table,
            Item: { ticket_id: id, sk: messageSortKey(first.created_at, first.message_id), ...first },
          },
        },
      });
    }
    if (first?.type === 'customer') {
      // The customer's last message time, for closes to come (never moved back by a rerun).
      last.push({
        label: 'activity',
        item: {
          Update: {
            TableName: this.table,
            Key: { ticket_id: id, sk: ACTIVITY_SK },
            UpdateExpression: 'SET last_customer_message_at = if_not_exists(last_customer_message_at, :lc)',
            ExpressionAttributeValues: { ':lc': first.created_at },
          },
        },
      });
    }
    const set: string[] = [];
    const remove = ['initial_message', '#events'];
    const values: Record<string, unknown> = { ':v': ticket.version };
    const names: Record<string, string> = { '#v': 'version', '#events': 'events' };
    if (times) {
      // The service's own stamp of the first agent reply, when it has one, else the conversation's.
      const agent = ticket.agent_replied_at ?? times.first_response_at;
      if (agent) {
        set.push('first_response_at = :fr', 'first_response_seconds = :frs', 'agent_replied_at = :fr');
        Object.assign(values, { ':fr': agent, ':frs': secondsBetween(ticket.created_at, agent) });
      } else {
        remove.push('first_response_at');
      }
      if (times.first_assistant_response_at && ticket.first_assistant_response_at === undefined) {
        set.push('first_assistant_response_at = :fa', 'first_assistant_response_seconds = :fas');
        Object.assign(values, {
          ':fa': times.first_assistant_response_at,
          ':fas': times.first_assistant_response_seconds,
        });
      }
    }
    if (listKeysOld) {
      Object.entries(keys.set).forEach(([attr, value], n) => {
        names[`#k${n}`] = attr;
        values[`:k${n}`] = value;
        set.push(`#k${n} = :k${n}`);
      });
      const waiting = ticket.status === 'closed' ? undefined : await this.waitingSince(id, first);
      if (waiting) {
        names['#w'] = WAITING_SINCE;
        values[':w'] = waiting;
        set.push('#w = if_not_exists(#w, :w)');
      }
      // Puts of the same keys and values: a rerun rewrites them harmlessly.
      for (const item of TicketRepository.lookupItems(ticket)) {
        last.push({ label: 'lookup', item: { Put: { TableName: this.table, Item: item } } });
      }
    }
    keys.remove.forEach((attr, n) => {
      names[`#r${n}`] = attr;
      remove.push(`#r${n}`);
    });
    last.push({
      label: 'ticket',
      item: {
        Update: {
          TableName: this.table,
          Key: { ticket_id: id, sk: TICKET_SK },
          UpdateExpression: [set.length ? `SET ${set.join(', ')}` : '', `REMOVE ${remove.join(', ')}`]
            .filter(Boolean)
            .join(' '),
          ConditionExpression: '#v = :v',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
    });

    // The ticket item changes in the last transaction only: until then, a rerun starts over from it.
    const room = MAX_TRANSACTION_ITEMS - last.length;
    const head = eventWrites.slice(0, Math.max(0, eventWrites.length - room));
    const tail = eventWrites.slice(head.length);
    for (let i = 0; i < head.length; i += MAX_TRANSACTION_ITEMS) {
      const chunk = head.slice(i, i + MAX_TRANSACTION_ITEMS);
      await commit(this.doc, chunk, stableId('reshape', id, String(ticket.version), String(i)).slice(-36));
    }
    try {
      await commit(this.doc, [...tail, ...last], stableId('reshape', id, String(ticket.version)).slice(-36));
    } catch (err) {
      if (err instanceof TransactionCancelled && err.failed('ticket')) return 'changed_meanwhile';
      throw err;
    }
    return 'reshaped';
  }
}
