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
  /** The list indexes are KEYS_ONLY (the page's items are read by key); the others project every attribute. */
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
 * The ticket's activity item: when the customer last wrote. Shared by the transactions of customer messages
 * and closes, which it orders.
 */
export const ACTIVITY_SK = 'ACTIVITY';
export const MESSAGE_SK_PREFIX = 'MSG#';

/**
 * The ticket list's indexes (docs/data.md). Each is KEYS_ONLY: a list Query reads index keys, then the page's
 * ticket items in one BatchGetItem. An index entry therefore changes only when its key attributes change (a
 * change of analytics, first-response time or any other attribute writes no index), and a new ticket costs one
 * small entry per index instead of a copy of the whole item.
 *
 * Partition values are composite keys of the ticket's dimensions (`<assignee>#<status>`); the assignee of an
 * unassigned ticket is `none`, so "unassigned" is a partition like any agent's. The `list_all` partition
 * attribute is overloaded: `ALL` on every ticket item, `tag#<tag>` on a ticket's tag items and
 * `customer#<key>` on its customer-identity items (LOOKUP_SK_PREFIX), so tags and customers share the
 * unfiltered index. Every index is sparse: message, activity and job items carry none of these attributes,
 * and the waiting indexes hold only tickets that carry `waiting_since`.
 */
export const LIST_DIMENSIONS = ['assignee', 'status', 'channel', 'priority'] as const;
export type ListDimension = (typeof LIST_DIMENSIONS)[number];
/** The order of a list: its index's sort key. */
export const LIST_ORDERS = ['created_at', 'updated_at', 'waiting_since'] as const;
export type ListOrder = (typeof LIST_ORDERS)[number];

export interface ListIndex {
  name: string;
  /** Dimensions joined (with `#`) into the partition value; none: the `ALL` partition (or a lookup key). */
  dimensions: ListDimension[];
  /** Attribute holding the partition value. */
  partitionAttribute: string;
  sortAttribute: ListOrder;
}

/** Constant partition value of every ticket item in the `list_all` indexes. */
export const LIST_ALL_VALUE = 'ALL';
export const LIST_ALL_ATTRIBUTE = 'list_all';
export const CREATED_AT = 'created_at';
export const UPDATED_AT = 'updated_at';
export const WAITING_SINCE = 'waiting_since';
/** The assignee dimension of an unassigned ticket (never an e-mail address). */
export const UNASSIGNED = 'none';
/** Sort-key prefix of a ticket's lookup items (one per tag, one per customer identity). */
export const LOOKUP_SK_PREFIX = 'LOOKUP#';
export const TAG_LOOKUP_PREFIX = 'tag#';
export const CUSTOMER_LOOKUP_PREFIX = 'customer#';

function listIndex(dimensions: ListDimension[], sortAttribute: ListOrder = CREATED_AT): ListIndex {
  // Single native dimensions are the ticket's own attributes; the assignee and combinations are derived.
  const partitionAttribute = dimensions.length === 0 ? LIST_ALL_ATTRIBUTE : dimensions.join('_');
  const prefix = dimensions.length === 0 ? 'all' : partitionAttribute;
  return { name: `${prefix}-${sortAttribute}-index`, dimensions, partitionAttribute, sortAttribute };
}

/**
 * Newest created first: every combination of assignee, status and channel (the agents' queues), priority,
 * and (overloaded on `all`) tags and customers. Newest change first: everything. Oldest unanswered first:
 * everything, and per assignee.
 */
export const LIST_INDEXES: ListIndex[] = [
  listIndex([]),
  listIndex(['status']),
  listIndex(['channel']),
  listIndex(['assignee']),
  listIndex(['status', 'channel']),
  listIndex(['assignee', 'status']),
  listIndex(['assignee', 'channel']),
  listIndex(['assignee', 'status', 'channel']),
  listIndex(['priority']),
  listIndex([], UPDATED_AT),
  listIndex([], WAITING_SINCE),
  listIndex(['assignee'], WAITING_SINCE),
];

/** The index answering exactly these dimensions in this order, if there is one. */
export function listIndexFor(
  dimensions: readonly ListDimension[],
  order: ListOrder = CREATED_AT,
): ListIndex | undefined {
  const wanted = LIST_DIMENSIONS.filter((d) => dimensions.includes(d));
  return LIST_INDEXES.find(
    (i) =>
      i.sortAttribute === order &&
      i.dimensions.length === wanted.length &&
      i.dimensions.every((d, n) => d === wanted[n]),
  );
}

/** The ticket's values of the list dimensions (the assignee of an unassigned ticket is `none`). */
export function listDimensions(ticket: {
  assigned_to?: string | null;
  status?: string;
  channel?: string;
  priority?: string;
}): Partial<Record<ListDimension, string>> {
  return {
    assignee: ticket.assigned_to || UNASSIGNED,
    ...(ticket.status && { status: ticket.status }),
    ...(ticket.channel && { channel: ticket.channel }),
    ...(ticket.priority && { priority: ticket.priority }),
  };
}

/** The partition value of `index` for these dimension values (undefined when one is missing). */
export function listPartitionValue(
  index: ListIndex,
  values: Partial<Record<ListDimension, string>>,
): string | undefined {
  if (index.dimensions.length === 0) return LIST_ALL_VALUE;
  const parts = index.dimensions.map((d) => values[d]);
  return parts.some((p) => p === undefined || p === '') ? undefined : parts.join('#');
}

/** Dimensions stored as the ticket's own attributes, which their single-dimension indexes key on directly. */
const NATIVE_DIMENSIONS: readonly string[] = ['status', 'channel', 'priority'];
/** Partition attributes the ticket item carries besides its own fields (`list_all`, `assignee`, combinations). */
export const DERIVED_LIST_ATTRIBUTES = [
  ...new Set(LIST_INDEXES.map((i) => i.partitionAttribute).filter((a) => !NATIVE_DIMENSIONS.includes(a))),
];

/** Values of every derived partition attribute for a ticket item. */
export function listIndexAttributes(ticket: {
  assigned_to?: string | null;
  status?: string;
  channel?: string;
  priority?: string;
}): Record<string, string> {
  const values = listDimensions(ticket);
  const out: Record<string, string> = {};
  for (const index of LIST_INDEXES) {
    if (!DERIVED_LIST_ATTRIBUTES.includes(index.partitionAttribute)) continue;
    const value = listPartitionValue(index, values);
    if (value !== undefined) out[index.partitionAttribute] = value;
  }
  return out;
}

/** Attributes of the earlier list design (one index per combination, absent when unassigned), removed by `migrate:shape`. */
export const RETIRED_LIST_ATTRIBUTES = ['assigned_to_status', 'assigned_to_channel', 'assigned_to_status_channel'];

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

/**
 * Canned responses (api/canned/): a partition of the tickets table no ticket id can take. Each response is two
 * copies of one item, written together: `CANNED#<shortcut>` (listing and prefix search: one Query with
 * `begins_with` on the sort key, in shortcut order; the key makes shortcuts unique) and `CANNED_ID#<id>`
 * (sending one by id: one GetItem). They carry no list attributes, so no ticket index holds them.
 */
export const CANNED_PARTITION = '#canned';
export const CANNED_SHORTCUT_SK_PREFIX = 'CANNED#';
export const CANNED_ID_SK_PREFIX = 'CANNED_ID#';

/**
 * Channel message ids a bridge already stored: one marker item per API key and id, in a partition of its own
 * (`#external-message#<hash of key and id>`, which no ticket id can take; `sk = EXTERNAL_MESSAGE_SK`), put with
 * `attribute_not_exists` in the transaction of the message it marks, so a repeat is refused however it races.
 */
export const EXTERNAL_MESSAGE_PARTITION_PREFIX = '#external-message#';
export const EXTERNAL_MESSAGE_SK = 'EXTERNAL';

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
      sortKey: { name: i.sortAttribute, type: 'S' as const },
      projection: 'KEYS_ONLY' as const,
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

/**
 * The account audit trail (api/auth/audit-log.ts) lives in the events table under one partition no ticket id can
 * take. Its items carry no `feed_bucket`, so the feed index (sparse) never holds them: the change feed, the live
 * streams and webhooks, which read that index only, cannot see them. Newest first is one Query of the partition.
 */
export const AUDIT_PARTITION = '#audit';

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

/** Names for every table, keyed by suffix (`tickets`, `events`...): `<prefix>-<suffix>` (benchmarks, tests). */
export function prefixedTableNames(prefix: string): Record<string, string> {
  return Object.fromEntries(TABLES.map((def) => [def.suffix, `${prefix}-${def.suffix}`]));
}

/**
 * The settings that point a process at these tables (names keyed by suffix): one variable per table of TABLES,
 * so a table added there reaches every process started with them.
 */
export function tableEnv(names: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(TABLES.map((def) => [def.envVar, names[def.suffix] as string]));
}

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
