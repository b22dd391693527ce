/**
 * `npm run migrate:shape [-- --dry-run]`: moves the tickets of an existing table (the `.data/` of `npm start`,
 * or a table on AWS) to the current stored shape: the first message out of the ticket item into a message
 * item, the history kept in the ticket item into the event log. Same settings as the service (api/config.ts);
 * idempotent: run it again until it reports nothing left. See docs/migration.md.
 */

import { ConfigError, loadConfig } from '../api/config.js';
import { createDynamoClients } from '../api/db/client.js';
import { type LocalEngine, localDataPath, startLocalEngine } from '../api/db/local-engine.js';
import { ensureTables } from '../api/db/schema.js';
import { EventLog } from '../api/events/log.js';
import { type ReshapeResult, TicketReshapeRepository } from '../api/tickets/reshape-repository.js';
import { commandLine } from './lib/command-line.js';

const USAGE = `Usage: npm run migrate:shape [-- --dry-run]

Moves every ticket of the tickets table to the current stored shape (first message as a message item,
history as events of the event log, first agent and assistant response times told apart, the list keys
of the current indexes: derived partition attributes, waiting_since, one lookup item per tag and customer
identity). Target: DYNAMODB_ENDPOINT, or AWS with NODE_ENV=production, or the
embedded engine's data under DATA_DIR (stop \`npm start\` first). TICKETS_TABLE and EVENTS_TABLE name the
tables. Safe to rerun; exit 0 when every ticket is in the current shape, 1 when some changed meanwhile
(run it again), 2 on a fatal error.

Options:
  --dry-run   count what would change, write nothing
  --help      this text
`;

async function main(): Promise<number> {
  const args = commandLine(USAGE, { 'dry-run': { type: 'boolean', default: false } });
  const config = loadConfig(undefined, { service: false });
  let engine: LocalEngine | undefined;
  let endpoint = config.dynamo.endpoint;
  if (config.dynamo.mode === 'embedded') {
    engine = await startLocalEngine({ path: localDataPath(config.dataDir) });
    endpoint = engine.endpoint;
  }
  const dynamo = createDynamoClients({ endpoint, region: config.awsRegion, timeoutMs: 10_000, maxAttempts: 5 });
  try {
    // Locally the events table may not exist yet (it came with this version); on AWS the stack creates it.
    if (config.dynamo.mode !== 'aws') await ensureTables(dynamo.client, config.tables);
    const repo = new TicketReshapeRepository(
      dynamo.doc,
      config.tables.tickets,
      new EventLog(dynamo.doc, config.tables.events, config.eventsRetentionDays),
    );
    const counts: Record<ReshapeResult | 'to_reshape', number> = {
      reshaped: 0,
      current: 0,
      changed_meanwhile: 0,
      to_reshape: 0,
    };
    for await (const page of repo.tickets()) {
      for (const ticket of page) {
        if (args['dry-run']) {
          counts[TicketReshapeRepository.needsReshape(ticket) ? 'to_reshape' : 'current']++;
          continue;
        }
        counts[await repo.reshape(ticket)]++;
      }
    }
    process.stdout.write(
      args['dry-run']
        ? `Dry run: ${counts.to_reshape} tickets to reshape, ${counts.current} in the current shape\n`
        : `${counts.reshaped} reshaped, ${counts.current} already current, ${counts.changed_meanwhile} changed meanwhile (run again)\n`,
    );
    return counts.changed_meanwhile > 0 ? 1 : 0;
  } finally {
    dynamo.client.destroy();
    await engine?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err instanceof ConfigError ? '' : 'migrate:shape failed: '}${err.message}\n`);
    process.exit(2);
  },
);
