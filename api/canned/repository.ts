/**
 * The only code that reads or writes canned responses: the tickets table's `#canned` partition, each response
 * stored twice (by shortcut and by id, api/db/tables.ts), both copies written in one transaction.
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CANNED_ID_SK_PREFIX, CANNED_PARTITION, CANNED_SHORTCUT_SK_PREFIX, ticketsTable } from '../db/tables.js';
import { commit, TransactionCancelled, transactionToken, type Write } from '../db/transaction.js';
import type { CannedResponse } from './model.js';

const PK = ticketsTable.partitionKey.name;
const SK = ticketsTable.sortKey?.name as string;

const byShortcut = (shortcut: string) => ({ [PK]: CANNED_PARTITION, [SK]: `${CANNED_SHORTCUT_SK_PREFIX}${shortcut}` });
const byId = (id: string) => ({ [PK]: CANNED_PARTITION, [SK]: `${CANNED_ID_SK_PREFIX}${id}` });

/** Why a write was refused. */
export type CannedWriteOutcome = 'ok' | 'shortcut_taken' | 'missing' | 'changed';

const strip = (item: Record<string, unknown>): CannedResponse => {
  const { [PK]: _pk, [SK]: _sk, ...rest } = item;
  return rest as unknown as CannedResponse;
};

export class CannedRepository {
  /** Key attributes of a page cursor. */
  static readonly pageKeys = [PK, SK];

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  async get(id: string): Promise<CannedResponse | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: byId(id) }));
    return out.Item ? strip(out.Item) : undefined;
  }

  /** One page in shortcut order, of every response or of those whose shortcut starts with `prefix`. */
  async page(
    prefix: string,
    limit: number,
    startKey?: Record<string, string>,
  ): Promise<{ items: CannedResponse[]; lastKey: Record<string, string> | undefined }> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
        ExpressionAttributeNames: { '#p': PK, '#s': SK },
        ExpressionAttributeValues: { ':p': CANNED_PARTITION, ':prefix': `${CANNED_SHORTCUT_SK_PREFIX}${prefix}` },
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    return {
      items: (out.Items ?? []).map(strip),
      lastKey: out.LastEvaluatedKey as Record<string, string> | undefined,
    };
  }

  private async transact(writes: Write[], operation: string): Promise<CannedWriteOutcome> {
    try {
      await commit(this.doc, writes, transactionToken(operation));
      return 'ok';
    } catch (err) {
      if (!(err instanceof TransactionCancelled)) throw err;
      if (err.failed('shortcut')) return 'shortcut_taken';
      if (err.failed('id')) return 'changed';
      if (err.failed('old-shortcut')) return 'changed';
      throw err;
    }
  }

  /** Both copies, each new: a taken shortcut refuses the whole write. */
  create(item: CannedResponse): Promise<CannedWriteOutcome> {
    return this.transact(
      [
        {
          label: 'shortcut',
          item: {
            Put: {
              TableName: this.table,
              Item: { ...item, ...byShortcut(item.shortcut) },
              ConditionExpression: `attribute_not_exists(${SK})`,
            },
          },
        },
        {
          label: 'id',
          item: {
            Put: {
              TableName: this.table,
              Item: { ...item, ...byId(item.id) },
              ConditionExpression: `attribute_not_exists(${SK})`,
            },
          },
        },
      ],
      `canned-create:${item.id}`,
    );
  }

  /**
   * Replaces `current` with `next` (same id), conditional on the version read. A new shortcut moves the
   * shortcut copy (the old one deleted, the new one created new: a taken shortcut refuses the whole write).
   */
  update(current: CannedResponse, next: CannedResponse): Promise<CannedWriteOutcome> {
    const versionIs = { ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'version' } };
    const values = { ExpressionAttributeValues: { ':v': current.version } };
    const moved = next.shortcut !== current.shortcut;
    const writes: Write[] = [
      {
        label: 'id',
        item: { Put: { TableName: this.table, Item: { ...next, ...byId(next.id) }, ...versionIs, ...values } },
      },
      moved
        ? {
            label: 'shortcut',
            item: {
              Put: {
                TableName: this.table,
                Item: { ...next, ...byShortcut(next.shortcut) },
                ConditionExpression: `attribute_not_exists(${SK})`,
              },
            },
          }
        : {
            label: 'old-shortcut',
            item: {
              Put: {
                TableName: this.table,
                Item: { ...next, ...byShortcut(next.shortcut) },
                ...versionIs,
                ...values,
              },
            },
          },
    ];
    if (moved) {
      writes.push({
        label: 'old-shortcut',
        item: { Delete: { TableName: this.table, Key: byShortcut(current.shortcut), ...versionIs, ...values } },
      });
    }
    return this.transact(writes, `canned-update:${next.id}:${next.version}`);
  }

  /** Both copies, as read (a concurrent change makes it `changed`). */
  delete(current: CannedResponse): Promise<CannedWriteOutcome> {
    const versionIs = {
      ConditionExpression: '#v = :v',
      ExpressionAttributeNames: { '#v': 'version' },
      ExpressionAttributeValues: { ':v': current.version },
    };
    return this.transact(
      [
        { label: 'id', item: { Delete: { TableName: this.table, Key: byId(current.id), ...versionIs } } },
        {
          label: 'old-shortcut',
          item: { Delete: { TableName: this.table, Key: byShortcut(current.shortcut), ...versionIs } },
        },
      ],
      `canned-delete:${current.id}`,
    );
  }
}
