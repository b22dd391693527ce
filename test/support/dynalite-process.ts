/**
 * dynalite in a process of its own (`node_modules/.bin/dynalite`), with every table created from the one set
 * of definitions. Tests that cut connections to DynamoDB use it instead of the in-process engine: dynalite
 * throws from a request's 'error' event, which would take the host process down with it. Benchmarks use it so
 * that the engine does not share the service's or the load generator's event loop.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createDynamoClients } from '../../api/db/client.js';
import { ensureTables } from '../../api/db/schema.js';
import { TABLES } from '../../api/db/tables.js';

export interface DynaliteProcess {
  endpoint: string;
  port: number;
  child: ChildProcess;
  /** Resolves with the exit code when the process ends, expectedly or not. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const BIN = join(process.cwd(), 'node_modules', '.bin', 'dynalite');

/** A port that was free a moment ago (the dynalite command line cannot listen on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function spawnOnce(port: number, path: string | undefined): Promise<DynaliteProcess> {
  const args = ['--port', String(port), '--host', '127.0.0.1', '--createTableMs', '0', '--deleteTableMs', '0'];
  if (path) args.push('--path', path);
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('Dynalite listening')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    exited.then((code) => reject(new Error(`dynalite exited with ${code}: ${output}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startDynaliteProcess(options: { path?: string } = {}): Promise<DynaliteProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await spawnOnce(await freePort(), options.path);
    } catch (err) {
      lastError = err; // most likely the port was taken in between: draw another
    }
  }
  throw lastError;
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

/** Creates every table of the service on an endpoint. */
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
