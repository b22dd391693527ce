/**
 * The channel message ids bridges send (`external_message_id`), so each message is stored once per API key
 * however often the bridge repeats it (a provider's webhook delivered twice, a retry after a lost answer, two
 * workers racing). One marker item per key and id, outside any ticket's partition (an id may open a ticket
 * that does not exist yet), written by a conditional put inside the transaction of the message it marks: the
 * message and its marker are stored together or not at all, and a second put is refused with the first marker.
 */
import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { EXTERNAL_MESSAGE_PARTITION_PREFIX, EXTERNAL_MESSAGE_SK, MESSAGE_SK_PREFIX } from '../db/tables.js';
import { TransactionCancelled, type Write } from '../db/transaction.js';
import { type MessageItem, messageSortKey, type NewMessage } from './repository.js';

/** Who sent the id (the API key's principal id) and the id itself. */
export interface ExternalMessageRef {
  caller: string;
  id: string;
}

/** What the marker records: where the marked message is. */
export interface ExternalMessageRecord {
  /** The ticket holding the message. */
  target_ticket_id: string;
  message_id: string;
  /** The message item's sort key, to read it back with one GetItem. */
  message_sk: string;
  /** The message opened its ticket (`POST /v1/tickets`), rather than being added to it. */
  opened_ticket: boolean;
  caller: string;
  external_message_id: string;
  created_at: string;
}

/** Label of the marker's write in a transaction. */
const LABEL = 'external-message';

/** The id is already stored: the marker of the first time. */
export class ExternalMessageTaken extends Error {
  override name = 'ExternalMessageTaken';
  constructor(readonly record: ExternalMessageRecord) {
    super(`external message id already stored as ${record.message_id} on ${record.target_ticket_id}`);
  }
}

function recordOf(item: Record<string, unknown> | undefined): ExternalMessageRecord | undefined {
  if (!item || typeof item.target_ticket_id !== 'string') return undefined;
  const { ticket_id: _pk, sk: _sk, ...record } = item;
  return record as unknown as ExternalMessageRecord;
}

export class ExternalMessageIds {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Hashed: ids are up to 512 characters and any key may use any id; the partition stays short and fixed. */
  private key(ref: ExternalMessageRef) {
    const hash = createHash('sha256').update(ref.caller).update('\0').update(ref.id).digest('base64url');
    return { ticket_id: `${EXTERNAL_MESSAGE_PARTITION_PREFIX}${hash}`, sk: EXTERNAL_MESSAGE_SK };
  }

  /** The marker's conditional put, for the transaction that stores `message`. */
  marker(ref: ExternalMessageRef, message: NewMessage, openedTicket: boolean): Write {
    const record: ExternalMessageRecord = {
      target_ticket_id: message.ticket_id,
      message_id: message.message_id,
      message_sk: messageSortKey(message.created_at, message.message_id),
      opened_ticket: openedTicket,
      caller: ref.caller,
      external_message_id: ref.id,
      created_at: message.created_at,
    };
    return {
      label: LABEL,
      item: {
        Put: {
          TableName: this.table,
          Item: { ...this.key(ref), ...record },
          ConditionExpression: 'attribute_not_exists(ticket_id)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
    };
  }

  /** The marker of an id already stored, or undefined. */
  async find(ref: ExternalMessageRef): Promise<ExternalMessageRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.key(ref), ConsistentRead: true }),
    );
    return recordOf(out.Item);
  }

  /** From a refused transaction: the marker that refused it (the id was taken first), if that was the reason. */
  static takenIn(err: unknown): ExternalMessageRecord | undefined {
    return err instanceof TransactionCancelled ? recordOf(err.failed(LABEL)?.item) : undefined;
  }

  /** The transaction lost to a concurrent one (maybe the same id's first request): worth trying again. */
  static contended(err: unknown): boolean {
    return err instanceof TransactionCancelled && err.contended;
  }

  /**
   * The marked message and, when the assistant answered it, that answer (the message right after it). One
   * Query from the marked message: it and the next message of the conversation.
   */
  async storedMessage(
    record: ExternalMessageRecord,
  ): Promise<{ message: MessageItem; answer?: MessageItem } | undefined> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'ticket_id = :id AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':id': record.target_ticket_id,
          ':from': record.message_sk,
          // Every message key sorts below this one (`$` follows `#`).
          ':to': `${MESSAGE_SK_PREFIX.slice(0, -1)}$`,
        },
        ConsistentRead: true,
        Limit: 2,
      }),
    );
    const [message, next] = (out.Items ?? []) as MessageItem[];
    if (!message || message.message_id !== record.message_id) return undefined;
    return { message, ...(next?.type === 'assistant' && { answer: next }) };
  }
}
