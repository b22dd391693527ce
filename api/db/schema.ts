/** Creating and checking the tables from their single definition (local engine, tests, operator command). */
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { createTableInput, TABLES, type TableDefinition } from './tables.js';

export type TableNames = Record<string, string>;

/** Real names by table suffix, e.g. `{ tickets: 'freeda-tickets', principals: 'freeda-principals' }`. */
export function tableEntries(names: TableNames): Array<[TableDefinition, string]> {
  return TABLES.map((def) => {
    const name = names[def.suffix];
    if (!name) throw new Error(`no name given for the ${def.suffix} table`);
    return [def, name];
  });
}

/** The tables that do not exist (empty when all do). Other errors (endpoint down...) propagate. */
export async function missingTables(client: DynamoDBClient, names: TableNames): Promise<string[]> {
  const missing: string[] = [];
  for (const [, name] of tableEntries(names)) {
    try {
      await client.send(new DescribeTableCommand({ TableName: name }));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) missing.push(name);
      else throw err;
    }
  }
  return missing;
}

/** Creates the missing tables and waits until they are ACTIVE. Returns the names it created. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<string[]> {
  const missing = new Set(await missingTables(client, names));
  for (const [def, name] of tableEntries(names)) {
    if (!missing.has(name)) continue;
    try {
      await client.send(new CreateTableCommand(createTableInput(def, name)));
    } catch (err) {
      // The SDK retried a creation whose answer came too late: the table exists (or is being created).
      if (!(err instanceof ResourceInUseException)) throw err;
    }
  }
  for (const name of missing) {
    for (let i = 0; ; i++) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
      if (Table?.TableStatus === 'ACTIVE') break;
      if (i > 100) throw new Error(`table ${name} did not become ACTIVE`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Expiry as on AWS (where the Pulumi program enables it from the same definition).
  for (const [def, name] of tableEntries(names)) {
    if (!missing.has(name) || !def.ttlAttribute) continue;
    await client
      .send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true },
        }),
      )
      .catch((err: Error) => {
        // A retry of a call whose answer came late: expiry is on already.
        if (!/already enabled/i.test(err.message)) throw err;
      });
  }
  return [...missing];
}
