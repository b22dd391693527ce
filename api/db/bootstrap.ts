/**
 * Getting the database ready before the service is wired: DynamoDB Local started under DATA_DIR with its
 * tables (no endpoint, not production), or a configured endpoint checked for its tables, or AWS as is (its
 * tables come from the Pulumi program and readiness reports them). Also the bootstrap admin key outside
 * production: configured, or generated once and kept under DATA_DIR.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config.js';
import { type DataDirLock, lockDataDir } from '../data-dir.js';
import { localSecret } from '../local-secrets.js';
import type { Logger } from '../logger.js';
import { StartupError } from '../startup-error.js';
import type { DynamoClients } from './client.js';
import { type LocalEngine, localDataPath, startLocalEngine } from './local-engine.js';
import { ensureTables, missingTables } from './schema.js';

export interface LocalDatabase {
  /** The endpoint to talk to (undefined on AWS). */
  endpoint: string | undefined;
  /** Stops DynamoDB Local (when started here) and releases DATA_DIR. */
  close(): Promise<void>;
}

/** Where the former embedded engine (dynalite, LevelDB files) kept its data: DynamoDB Local cannot read it. */
const FORMER_ENGINE_DIR = 'dynamodb';

/** Starts DynamoDB Local under DATA_DIR when the configuration asks for it (the `embedded` mode). */
export async function startDatabase(config: Config, logger: Logger): Promise<LocalDatabase> {
  if (config.dynamo.mode !== 'embedded') return { endpoint: config.dynamo.endpoint, close: async () => {} };
  const lock: DataDirLock = lockDataDir(config.dataDir);
  const former = join(config.dataDir, FORMER_ENGINE_DIR);
  if (existsSync(join(former, 'CURRENT'))) {
    logger.warn(
      `${resolve(former)} holds data of the former local engine (dynalite), which DynamoDB Local cannot read: ` +
        'it is left untouched and not used; see docs/migration.md to carry it over',
    );
  }
  let engine: LocalEngine;
  try {
    engine = await startLocalEngine({ path: localDataPath(config.dataDir) });
  } catch (err) {
    lock.release();
    throw err;
  }
  let closing = false;
  // Readiness reports the tables unreachable from then on; the log says why.
  void engine.exited.then((code) => {
    if (!closing) logger.error('DynamoDB Local stopped unexpectedly', { exit_code: code });
  });
  return {
    endpoint: engine.endpoint,
    async close() {
      closing = true;
      await engine.close();
      lock.release();
    },
  };
}

/**
 * The tables: created on DynamoDB Local started here; required on a configured endpoint (a local endpoint
 * without tables is a setup mistake worth stopping for); left to readiness on AWS.
 */
export async function prepareTables(config: Config, dynamo: DynamoClients, logger: Logger): Promise<void> {
  if (config.dynamo.mode === 'embedded') {
    const created = await ensureTables(dynamo.client, config.tables);
    if (created.length) logger.info('created tables on DynamoDB Local', { tables: created, data_dir: config.dataDir });
  } else if (config.dynamo.mode === 'endpoint') {
    const endpoint = config.dynamo.endpoint;
    const missing = await missingTables(dynamo.client, config.tables).catch((err: Error) => {
      throw new StartupError(`DYNAMODB_ENDPOINT ${endpoint} does not answer: ${err.message}`);
    });
    if (missing.length) {
      throw new StartupError(
        `tables ${missing.join(', ')} do not exist at ${endpoint}; create them with \`npm run db:create-tables\``,
      );
    }
  }
}

export interface BootstrapKey {
  value: string | undefined;
  /** Where it comes from, for the start-up banner. */
  source: 'configured' | 'generated' | 'data-dir' | 'none';
  /** The file keeping a generated key. */
  path?: string;
}

/**
 * The bootstrap admin key: BOOTSTRAP_ADMIN_KEY when set; otherwise, outside production (whatever the
 * endpoint), one generated on first start and kept in DATA_DIR; none in production.
 */
export function bootstrapAdminKey(config: Config): BootstrapKey {
  if (config.bootstrapAdminKey) return { value: config.bootstrapAdminKey, source: 'configured' };
  if (config.production) return { value: undefined, source: 'none' };
  const secret = dataDirSecret(config.dataDir, 'bootstrap-admin-key');
  return { value: secret.value, source: secret.created ? 'generated' : 'data-dir', path: secret.path };
}

/** The token signing key: TOKEN_SIGNING_KEY (required in production), else generated once under DATA_DIR. */
export function tokenSigningKey(config: Config): string {
  return config.tokenSigningKey ?? dataDirSecret(config.dataDir, 'token-signing-key').value;
}

function dataDirSecret(dataDir: string, name: string): ReturnType<typeof localSecret> {
  try {
    return localSecret(dataDir, name);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StartupError(
      `DATA_DIR ${resolve(dataDir)} is not writable (${e.code ?? e.message}): ` +
        'set DATA_DIR to a directory this user can write',
    );
  }
}
