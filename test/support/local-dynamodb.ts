/**
 * DynamoDB Local for tests and benchmarks, with every table created from the one set of definitions.
 * Tests share one in-memory instance per run (`sharedEngine` in ./engine.ts); benchmarks start their own
 * (`startLocalDynamoDB`) so that figures do not depend on what else ran before.
 */
import { randomBytes } from 'node:crypto';
import { createDynamoClients } from '../../api/db/client.js';
import { freePort, type LocalEngine, startLocalEngine } from '../../api/db/local-engine.js';
import { ensureTables } from '../../api/db/schema.js';
import { TABLES } from '../../api/db/tables.js';

export { freePort, type LocalEngine };

/** A DynamoDB Local of its own, in memory, on a free loopback port. */
export function startLocalDynamoDB(): Promise<LocalEngine> {
  return startLocalEngine();
}

/** Names of every table (by suffix) and the environment variables that hand them to the service. */
export interface TableSet {
  names: Record<string, string>;
  env: Record<string, string>;
}

export function tableSet(prefix = `t-${randomBytes(4).toString('hex')}`): TableSet {
  const names: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (const def of TABLES) {
    names[def.suffix] = `${prefix}-${def.suffix}`;
    env[def.envVar] = names[def.suffix] as string;
  }
  return { names, env };
}

/** Creates every table of the service on an endpoint, under fresh names. */
export async function createTables(endpoint: string, prefix?: string): Promise<TableSet> {
  const set = tableSet(prefix);
  const { client } = createDynamoClients({ endpoint, timeoutMs: 10_000 });
  try {
    await ensureTables(client, set.names);
  } finally {
    client.destroy();
  }
  return set;
}
