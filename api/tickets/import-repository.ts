/**
 * Bulk access to the tickets table for imports (the legacy migration): the table's shape check, batched
 * reads of ticket items, batched writes, and the one conditional overwrite an import may do. The service
 * itself never uses this; it lives next to the ticket repository so that only repositories talk to DynamoDB.
 */
import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  type DescribeTableCommandOutput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../db/batch.js';
import { MESSAGE_SK_PREFIX, type TableDefinition, TICKET_SK, ticketsTable } from '../db/tables.js';
import type { LookupItem, MessageItem, TicketItem } from './repository.js';

export const MAX_BATCH_GET = 100;
export const MAX_BATCH_WRITE = 25;

const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException || (err as Error)?.name === 'ConditionalCheckFailedException';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TicketImportRepository {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly definition: TableDefinition = ticketsTable,
  ) {}

  /**
   * What is wrong with the table for this code's definition: `missing` when it does not exist, otherwise
   * every key or index difference (a table made for another schema would take writes and lose them to
   * absent indexes). Empty when the table is usable.
   */
  async tableProblems(): Promise<{ missing: boolean; problems: string[] }> {
    let out: DescribeTableCommandOutput;
    try {
      out = await this.client.send(new DescribeTableCommand({ TableName: this.table }));
    } catch (err) {
      if ((err as Error)?.name === 'ResourceNotFoundException') return { missing: true, problems: [] };
      throw err;
    }
    const t = out.Table ?? {};
    const problems: string[] = [];
    if (t.TableStatus !== 'ACTIVE' && t.TableStatus !== 'UPDATING') problems.push(`table is ${t.TableStatus}`);
    const keyOf = (schema?: Array<{ AttributeName?: string }>) => (schema ?? []).map((k) => k.AttributeName).join(',');
    const wantKey = [this.definition.partitionKey.name, this.definition.sortKey?.name].filter(Boolean).join(',');
    if (keyOf(t.KeySchema) !== wantKey) problems.push(`key is (${keyOf(t.KeySchema)}), expected (${wantKey})`);
    for (const index of this.definition.indexes) {
      const found = t.GlobalSecondaryIndexes?.find((g) => g.IndexName === index.name);
      const want = [index.partitionKey.name, index.sortKey?.name].filter(Boolean).join(',');
      if (!found) problems.push(`index ${index.name} is missing`);
      else if (keyOf(found.KeySchema) !== want)
        problems.push(`index ${index.name} has key (${keyOf(found.KeySchema)})`);
    }
    return { missing: false, problems };
  }

  /** The ticket items that exist among `ids` (at most 100), read consistently. */
  async ticketItems(ids: readonly string[], maxRounds = 8): Promise<Map<string, TicketItem>> {
    if (ids.length > MAX_BATCH_GET) throw new Error(`a batch read holds at most ${MAX_BATCH_GET} keys`);
    const found = new Map<string, TicketItem>();
    let keys: Array<Record<string, unknown>> = ids.map((id) => ({ ticket_id: id, sk: TICKET_SK }));
    for (let round = 0; keys.length > 0; round++) {
      if (round >= maxRounds) throw new Error(`${keys.length} reads still unprocessed after ${maxRounds} rounds`);
      if (round > 0) await sleep(Math.random() * Math.min(2000, 50 * 2 ** round));
      const out = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[this.table] ?? []) found.set(String(item.ticket_id), item as TicketItem);
      keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
    }
    return found;
  }

  /**
   * Puts up to 25 items (tickets, messages, lookup items; unconditional, so a repeated put of the same item
   * changes nothing).
   */
  async putAll(items: ReadonlyArray<TicketItem | MessageItem | LookupItem>): Promise<void> {
    await batchWriteAll(
      this.doc,
      this.table,
      items.map((Item) => ({ PutRequest: { Item } })),
    );
  }

  /**
   * Replaces a ticket item only if it is still exactly the one that was read (same version and updated_at):
   * false when someone changed it in between.
   */
  async replaceTicket(item: TicketItem, expected: { version: number; updated_at: string }): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: '#v = :v AND updated_at = :u',
          ExpressionAttributeNames: { '#v': 'version' },
          ExpressionAttributeValues: { ':v': expected.version, ':u': expected.updated_at },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * A ticket item with every message item, to verify an import item by item. Only the operator's import reads
   * whole conversations (legacy tickets are small); the service never does.
   */
  async readBack(ticketId: string): Promise<{ ticket: TicketItem; messages: MessageItem[] } | undefined> {
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
        }),
      );
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    const ticket = items.find((i) => i.sk === TICKET_SK) as TicketItem | undefined;
    if (!ticket) return undefined;
    const messages = items.filter((i) => String(i.sk).startsWith(MESSAGE_SK_PREFIX)) as unknown as MessageItem[];
    return { ticket, messages };
  }
}
