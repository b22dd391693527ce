/**
 * The only code that reads or writes the account audit trail: one item per event in the events table's
 * `#audit` partition (api/db/tables.ts AUDIT_PARTITION), sorted by event id (time order), expired by TTL.
 * The items carry no `feed_bucket`: the feed index never holds them, so no reader of ticket events sees one.
 */
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { AUDIT_PARTITION, eventsTable } from '../db/tables.js';
import type { Write } from '../db/transaction.js';
import type { AuditRecord } from './audit.js';

const DAY_SECONDS = 86_400;
const PK = eventsTable.partitionKey.name;
const SK = eventsTable.sortKey?.name as string;

interface AuditItem {
  ticket_id: typeof AUDIT_PARTITION;
  event_id: string;
  type: string;
  created_at: string;
  actor: string;
  subject: string;
  client_ip?: string;
  changes?: string[];
  expires_at: number;
}

export interface AuditFilter {
  types?: readonly string[];
  actor?: string;
  subject?: string;
}

const toRecord = (item: AuditItem): AuditRecord => ({
  id: item.event_id,
  type: item.type as AuditRecord['type'],
  created_at: item.created_at,
  actor: item.actor,
  subject: item.subject,
  ...(item.client_ip !== undefined && { client_ip: item.client_ip }),
  ...(item.changes !== undefined && { changes: item.changes }),
});

export class AuditLog {
  /** Key attributes of a page cursor. */
  static readonly pageKeys = [PK, SK];

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    private readonly retentionDays: number,
  ) {}

  private item(record: AuditRecord): AuditItem {
    return {
      ticket_id: AUDIT_PARTITION,
      event_id: record.id,
      type: record.type,
      created_at: record.created_at,
      actor: record.actor,
      subject: record.subject,
      ...(record.client_ip !== undefined && { client_ip: record.client_ip }),
      ...(record.changes !== undefined && { changes: record.changes }),
      expires_at: Math.floor(Date.parse(record.created_at) / 1000) + this.retentionDays * DAY_SECONDS,
    };
  }

  /** The put of an event, for the transaction of the account change it describes (a new id never overwrites). */
  write(record: AuditRecord): Write {
    return {
      label: `audit:${record.type}`,
      item: {
        Put: { TableName: this.table, Item: this.item(record), ConditionExpression: `attribute_not_exists(${SK})` },
      },
    };
  }

  /** An event that changes nothing else (a login): one put. */
  async put(record: AuditRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: this.item(record) }));
  }

  /**
   * One page, newest first: one Query of the partition. Filters are a FilterExpression on that Query (never a
   * Scan): a filtered page may hold fewer than `limit` events, and `lastKey` says where the next one starts.
   */
  async page(
    limit: number,
    filter: AuditFilter,
    startKey?: Record<string, string>,
  ): Promise<{ records: AuditRecord[]; lastKey: Record<string, string> | undefined }> {
    const conditions: string[] = [];
    const names: Record<string, string> = { '#p': PK };
    const values: Record<string, unknown> = { ':p': AUDIT_PARTITION };
    if (filter.types?.length) {
      names['#type'] = 'type';
      conditions.push(`#type IN (${filter.types.map((_, n) => `:t${n}`).join(', ')})`);
      filter.types.forEach((t, n) => {
        values[`:t${n}`] = t;
      });
    }
    for (const field of ['actor', 'subject'] as const) {
      const value = filter[field];
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      conditions.push(`#${field} = :${field}`);
    }
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#p = :p',
        ...(conditions.length > 0 && { FilterExpression: conditions.join(' AND ') }),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    return {
      records: ((out.Items ?? []) as AuditItem[]).map(toRecord),
      lastKey: out.LastEvaluatedKey as Record<string, string> | undefined,
    };
  }
}
