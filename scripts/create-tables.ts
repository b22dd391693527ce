/**
 * `npm run db:create-tables`: creates the tables and indexes from their single definition (api/db/tables.ts)
 * on a local or test endpoint (DYNAMODB_ENDPOINT). On AWS the Pulumi program owns the tables, so this
 * command refuses to run without an explicit endpoint.
 */
import { loadConfig } from '../api/config.js';
import { createDynamoClients } from '../api/db/client.js';
import { ensureTables } from '../api/db/schema.js';
import { commandLine } from './lib/command-line.js';

commandLine(
  `
Usage: npm run db:create-tables

Creates the service's tables and indexes, from their single definition, on the local or test endpoint
named by DYNAMODB_ENDPOINT (tables that exist are left as they are). Table names come from the same
settings as the service (TICKETS_TABLE...). On AWS the Pulumi program owns the tables: without an explicit
endpoint this command refuses to run.

Options:
  --help               show this help

Exit codes: 0 done, 2 no endpoint set or the endpoint failed.
`,
  {},
);

async function main(): Promise<number> {
  const config = loadConfig();
  if (config.dynamo.mode !== 'endpoint') {
    process.stderr.write(
      'Set DYNAMODB_ENDPOINT to a local DynamoDB-compatible endpoint (the DynamoDB Local of `npm start` creates ' +
        'its own tables; on AWS the Pulumi program does).\n',
    );
    return 2;
  }
  const { client } = createDynamoClients({
    endpoint: config.dynamo.endpoint,
    region: config.awsRegion,
    timeoutMs: 5000,
  });
  try {
    const created = await ensureTables(client, config.tables);
    const existing = Object.values(config.tables).filter((t) => !created.includes(t));
    process.stdout.write(
      `created: ${created.join(', ') || 'none'}; already there: ${existing.join(', ') || 'none'} (${config.dynamo.endpoint})\n`,
    );
    return 0;
  } finally {
    client.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  },
);
