/**
 * THE table definitions: key schema, index names and projections. The Pulumi program, the embedded local
 * engine, `npm run db:create-tables`, the migration tool and the tests all build their tables from this file.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

export interface IndexDefinition {
  name: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** List queries return whole tickets, so the list indexes project every attribute. */
  projection: 'ALL' | 'KEYS_ONLY';
}

export interface TableDefinition {
  /** Appended to the stack prefix by the infra (`freeda-production-tickets`). */
  suffix: string;
  /** Variable through which the service receives the table's real name. */
  envVar: string;
  /** Name used when the variable is not set (local engine, tests). */
  defaultName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  indexes: IndexDefinition[];
  /** Attribute holding an epoch-seconds expiry that DynamoDB's TTL deletes after (AWS only). */
  ttlAttribute?: string;
}

/** Sort key of the ticket item; message items use `MSG#<created_at>#<message_id>`. */
export const TICKET_SK = 'TICKET';
/**
 * The ticket's activity item: when the customer last wrote. Kept apart from the ticket item, which every list
 * index projects whole (a customer's message then rewrites one small item, not eight index entries), and
 * shared by the transactions of customer messages and closes, which it orders.
 */
export const ACTIVITY_SK = 'ACTIVITY';
export const MESSAGE_SK_PREFIX = 'MSG#';

/** Filters of the ticket list, in the order their values are joined in composite index keys. */
export const LIST_FILTERS = ['assigned_to', 'status', 'channel'] as const;
export type ListFilter = (typeof LIST_FILTERS)[number];

export interface ListIndex {
  filters: ListFilter[];
  name: string;
  /** Attribute holding the partition value: the filter itself, a composite `a#b`, or a constant for "all". */
  partitionAttribute: string;
}

/** Constant partition value of the unfiltered list index (every ticket item carries it). */
export const LIST_ALL_VALUE = 'ALL';
export const CREATED_AT = 'created_at';

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => acc.concat(acc.map((s) => [...s, item])), [[]]);
}

/**
 * One index per combination of list filters, so that every filter combination is a single Query on
 * `<partition> = :v AND created_at BETWEEN ...`, newest first, with no FilterExpression and no Scan.
 * Every index is sparse: only ticket items carry the attributes (message items have none of them).
 */
export const LIST_INDEXES: ListIndex[] = subsets(LIST_FILTERS).map((filters) => {
  const partitionAttribute = filters.length === 0 ? 'list_all' : filters.join('_');
  const prefix = filters.length === 0 ? 'all' : partitionAttribute;
  return { filters, partitionAttribute, name: `${prefix}-${CREATED_AT}-index` };
});

/** The index answering exactly this set of filters. */
export function listIndexFor(filters: readonly ListFilter[]): ListIndex {
  const wanted = LIST_FILTERS.filter((f) => filters.includes(f));
  const index = LIST_INDEXES.find(
    (i) => i.filters.length === wanted.length && i.filters.every((f, n) => f === wanted[n]),
  );
  if (!index) throw new Error(`no list index for ${wanted.join(',')}`);
  return index;
}

/** Values of every list-index partition attribute for a ticket (absent when a filter value is absent). */
export function listIndexAttributes(values: Partial<Record<ListFilter, string | null>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const index of LIST_INDEXES) {
    const parts = index.filters.map((f) => values[f]);
    if (parts.some((p) => p === undefined || p === null || p === '')) continue;
    out[index.partitionAttribute] = index.filters.length === 0 ? LIST_ALL_VALUE : parts.join('#');
  }
  return out;
}

/** Composite partition attributes (single-filter indexes use the ticket's own attribute). */
export const COMPOSITE_LIST_ATTRIBUTES = LIST_INDEXES.filter((i) => i.filters.length !== 1).map(
  (i) => i.partitionAttribute,
);

/**
 * Pending analysis of a ticket: one item per ticket (`sk = JOB#analysis`) in the ticket's own partition,
 * so deleting a ticket deletes its job. While pending it carries `job_queue` and `due_at` (the time it may
 * be claimed, which a claim pushes forward as its lease), which put it in the sparse jobs index.
 */
export const ANALYSIS_JOB_SK = 'JOB#analysis';
export const ANALYSIS_JOB_QUEUE = 'analysis';
export const ANALYSIS_JOBS_INDEX = {
  name: 'analysis-jobs-index',
  partitionAttribute: 'job_queue',
  sortAttribute: 'due_at',
} as const;

/**
 * Knowledge-base vectors: one item per FAQ entry (`sk = FAQ#<content hash>`) in a partition no ticket id
 * can take, so every task reads them with one Query and they are computed once per FAQ content.
 */
export const KNOWLEDGE_PARTITION = '#knowledge-base';
export const KNOWLEDGE_SK_PREFIX = 'FAQ#';

export const ticketsTable: TableDefinition = {
  suffix: 'tickets',
  envVar: 'TICKETS_TABLE',
  defaultName: 'freeda-tickets',
  partitionKey: { name: 'ticket_id', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  indexes: [
    ...LIST_INDEXES.map((i) => ({
      name: i.name,
      partitionKey: { name: i.partitionAttribute, type: 'S' as const },
      sortKey: { name: CREATED_AT, type: 'S' as const },
      projection: 'ALL' as const,
    })),
    {
      name: ANALYSIS_JOBS_INDEX.name,
      partitionKey: { name: ANALYSIS_JOBS_INDEX.partitionAttribute, type: 'S' },
      sortKey: { name: ANALYSIS_JOBS_INDEX.sortAttribute, type: 'S' },
      projection: 'ALL',
    },
  ],
};

/**
 * Lists of principals by kind (`user`, `api_key`), for the admin's listings: one Query per page, no Scan.
 * Sessions carry no `kind`, so the index holds accounts and keys only.
 */
export const PRINCIPALS_BY_KIND_INDEX = {
  name: 'kind-index',
  partitionAttribute: 'kind',
  sortAttribute: 'principal_id',
} as const;

/**
 * Agents (`user#<email>`), API keys (`key#<id>`) and login sessions (`session#<id>`, expired by TTL):
 * one key space, read by primary key, listed by kind through the kind index.
 */
export const principalsTable: TableDefinition = {
  suffix: 'principals',
  envVar: 'PRINCIPALS_TABLE',
  defaultName: 'freeda-principals',
  partitionKey: { name: 'principal_id', type: 'S' },
  indexes: [
    {
      name: PRINCIPALS_BY_KIND_INDEX.name,
      partitionKey: { name: PRINCIPALS_BY_KIND_INDEX.partitionAttribute, type: 'S' },
      sortKey: { name: PRINCIPALS_BY_KIND_INDEX.sortAttribute, type: 'S' },
      projection: 'ALL',
    },
  ],
  ttlAttribute: 'expires_at',
};

/**
 * Short-lived records of the requests themselves, shared by every task and deleted by TTL, read by primary
 * key only. Two key spaces:
 * - rate-limit counters: one item per limiter, client key and fixed window (`<limiter>:<client>:<window>`),
 *   incremented atomically;
 * - idempotency records (`idem#<MAC of caller and key>`): the first response to a request sent with an
 *   `Idempotency-Key`, kept for replay (api/db/idempotency-store.ts).
 * They share a table because they share its whole profile: small items written and read once per request,
 * per-client keys, expiry within a day through the same TTL attribute, no index, never listed.
 */
export const rateLimitsTable: TableDefinition = {
  suffix: 'ratelimits',
  envVar: 'RATE_LIMITS_TABLE',
  defaultName: 'freeda-ratelimits',
  partitionKey: { name: 'limit_key', type: 'S' },
  indexes: [],
  ttlAttribute: 'expires_at',
};

/** Prefix of the idempotency records' keys in the rate-limits table (limiter names never contain `#`). */
export const IDEMPOTENCY_KEY_PREFIX = 'idem#';

/**
 * The event log (DESIGN 3b): one item per change, written in the change's own transaction. A ticket's history
 * is the Query of its partition (`ticket_id`, then `event_id` in time order); the feed index keys every event
 * by its day (`feed_bucket`, `YYYY-MM-DD`) and its id, so "every event after X" is one Query per day. Items
 * expire after EVENTS_RETENTION_DAYS through TTL.
 */
export const EVENTS_FEED_INDEX = {
  name: 'feed-index',
  partitionAttribute: 'feed_bucket',
  sortAttribute: 'event_id',
} as const;

export const eventsTable: TableDefinition = {
  suffix: 'events',
  envVar: 'EVENTS_TABLE',
  defaultName: 'freeda-events',
  partitionKey: { name: 'ticket_id', type: 'S' },
  sortKey: { name: 'event_id', type: 'S' },
  indexes: [
    {
      name: EVENTS_FEED_INDEX.name,
      partitionKey: { name: EVENTS_FEED_INDEX.partitionAttribute, type: 'S' },
      sortKey: { name: EVENTS_FEED_INDEX.sortAttribute, type: 'S' },
      projection: 'ALL',
    },
  ],
  ttlAttribute: 'expires_at',
};

/**
 * Webhooks (DESIGN 3b, out 1): subscriptions and their deliveries, one table.
 * - Subscriptions: one partition (`pk = subscriptions`, `sk = <webhook id>`): every task reads them all with one
 *   Query (there are a handful), and the admin lists them the same way.
 * - Deliveries: one per event and subscription (`pk = deliveries#<webhook id>`, `sk = <event id>`), created by a
 *   conditional put, so whichever task sees the event first creates it and the others' puts fail. A webhook's
 *   recent deliveries are the end of its partition. While a delivery waits for an attempt it carries
 *   `delivery_queue` (its webhook id) and `due_at` (the time it may be claimed, pushed forward by a claim as its
 *   lease): the sparse due index, one queue per webhook, so a dead receiver's backlog never hides another's.
 * - The dispatchers' checkpoint (`pk = dispatcher`): the feed position below which every event has its
 *   deliveries, where a restarted service resumes.
 * Deliveries expire through TTL some days after their last attempt.
 */
export const WEBHOOK_SUBSCRIPTIONS_PK = 'subscriptions';
export const WEBHOOK_DELIVERIES_PK_PREFIX = 'deliveries#';
export const WEBHOOK_CHECKPOINT_PK = 'dispatcher';
export const WEBHOOK_DUE_INDEX = {
  name: 'due-deliveries-index',
  partitionAttribute: 'delivery_queue',
  sortAttribute: 'due_at',
} as const;

export const webhooksTable: TableDefinition = {
  suffix: 'webhooks',
  envVar: 'WEBHOOKS_TABLE',
  defaultName: 'freeda-webhooks',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  indexes: [
    {
      name: WEBHOOK_DUE_INDEX.name,
      partitionKey: { name: WEBHOOK_DUE_INDEX.partitionAttribute, type: 'S' },
      sortKey: { name: WEBHOOK_DUE_INDEX.sortAttribute, type: 'S' },
      projection: 'ALL',
    },
  ],
  ttlAttribute: 'expires_at',
};

export const TABLES: TableDefinition[] = [ticketsTable, principalsTable, rateLimitsTable, eventsTable, webhooksTable];

/** Every attribute used in a key of the table or of one of its indexes, with its type. */
export function keyAttributes(def: TableDefinition): KeyAttribute[] {
  const all = [def.partitionKey, def.sortKey, ...def.indexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  const seen = new Map<string, KeyAttribute>();
  for (const a of all) if (a && !seen.has(a.name)) seen.set(a.name, a);
  return [...seen.values()];
}

/** CreateTable input for a local or test endpoint (on AWS, the Pulumi program creates the tables). */
export function createTableInput(def: TableDefinition, tableName: string): CreateTableCommandInput {
  const keySchema = (pk: KeyAttribute, sk?: KeyAttribute) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: keyAttributes(def).map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    KeySchema: keySchema(def.partitionKey, def.sortKey),
    ...(def.indexes.length > 0 && {
      GlobalSecondaryIndexes: def.indexes.map((i) => ({
        IndexName: i.name,
        KeySchema: keySchema(i.partitionKey, i.sortKey),
        Projection: { ProjectionType: i.projection },
      })),
    }),
  };
}
