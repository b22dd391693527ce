/**
 * Data tier: the customer-managed KMS key and the DynamoDB tables, declared from THE table definitions in
 * api/db/tables.ts (key schema, every index and its projection), so the tables the service queries are the
 * tables that exist.
 */
import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import { type KeyAttribute, keyAttributes, TABLES, type TableDefinition } from '../api/db/tables.js';
import type { Settings } from './config.js';

export interface DataTier {
  key: aws.kms.Key;
  tables: { definition: TableDefinition; table: aws.dynamodb.Table }[];
}

const ddbType = (a: KeyAttribute) => a.type;

/** Table arguments for one definition: on demand, point-in-time recovery, encrypted with the stack's key. */
export function tableArgs(
  definition: TableDefinition,
  name: string,
  kmsKeyArn: pulumi.Input<string>,
  deletionProtection: boolean,
): aws.dynamodb.TableArgs {
  return {
    name,
    billingMode: 'PAY_PER_REQUEST',
    hashKey: definition.partitionKey.name,
    rangeKey: definition.sortKey?.name,
    attributes: keyAttributes(definition).map((a) => ({ name: a.name, type: ddbType(a) })),
    // Index keys as `keySchemas` (the provider deprecated an index's hashKey/rangeKey).
    globalSecondaryIndexes: definition.indexes.map((index) => ({
      name: index.name,
      keySchemas: [
        { attributeName: index.partitionKey.name, keyType: 'HASH' },
        ...(index.sortKey ? [{ attributeName: index.sortKey.name, keyType: 'RANGE' }] : []),
      ],
      projectionType: index.projection,
    })),
    // Items past their epoch-seconds expiry are deleted by DynamoDB at no cost (rate-limit windows).
    ...(definition.ttlAttribute ? { ttl: { attributeName: definition.ttlAttribute, enabled: true } } : {}),
    pointInTimeRecovery: { enabled: true },
    serverSideEncryption: { enabled: true, kmsKeyArn },
    deletionProtectionEnabled: deletionProtection,
  };
}

export function createDataTier(settings: Settings): DataTier {
  const protect = settings.protectData;
  const key = new aws.kms.Key(
    'data',
    {
      description: `${settings.prefix}: DynamoDB tables and Secrets Manager secrets`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
    },
    { protect },
  );
  new aws.kms.Alias('data', { name: `alias/${settings.prefix}-data`, targetKeyId: key.keyId });

  const tables = TABLES.map((definition) => ({
    definition,
    table: new aws.dynamodb.Table(
      definition.suffix,
      tableArgs(definition, `${settings.prefix}-${definition.suffix}`, key.arn, protect),
      { protect },
    ),
  }));
  return { key, tables };
}
