/**
 * A developer's first run and the process's life, against the real entry point (api/server.ts) in a child
 * process: the banner, one-line errors for the usual setup mistakes, the data directory's lock, DynamoDB
 * Local never outliving the service, and the process-level error policy.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { LOCK_FILE } from '../../api/data-dir.js';
import { JAVA_MISSING } from '../../api/db/local-engine.js';
import { sharedEngine } from '../support/engine.js';
import { createTables } from '../support/local-dynamodb.js';
import { runService } from '../support/process.js';
import { commandLine, descendants, gone } from '../support/processes.js';

/** stderr without the warnings a Node or SDK version may print. */
const errorLines = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter(
      (l) => !/NodeVersion|node >=22|^$|upgrade|a\.co|trace-warnings|versions published|security updates/.test(l),
    );

const jsonLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The JVM the service started (a descendant running DynamoDBLocal.jar). */
function engineJvm(servicePid: number): number {
  const jvm = descendants(servicePid).find((p) => commandLine(p).includes('DynamoDBLocal.jar'));
  if (!jvm) throw new Error('no DynamoDB Local under the service');
  return jvm;
}

describe('first run and process life', function () {
  this.timeout(90_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'freeda-first-run-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints where the service answers, its docs and the generated bootstrap key, then where the key is kept', async () => {
    const dataDir = join(dir, 'data');
    const first = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    const banner = first.stdout();
    expect(banner).to.include(`listening on http://localhost:${first.port}`);
    expect(banner).to.include(`http://localhost:${first.port}/docs`);
    const key = /Bootstrap admin key \(shown once, kept in ([^)]+)\):\n\s+(\S+)/.exec(banner);
    expect(key?.[1]).to.equal(join(dataDir, 'bootstrap-admin-key'));
    expect(readFileSync(join(dataDir, 'bootstrap-admin-key'), 'utf8').trim()).to.equal(key?.[2]);
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);

    const second = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    expect(second.stdout()).to.include(`Bootstrap admin key: in ${join(dataDir, 'bootstrap-admin-key')}`);
    expect(second.stdout()).to.not.include(key?.[2] as string);
    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });

  it('generates a bootstrap key outside production with a local DYNAMODB_ENDPOINT too, and the key works', async () => {
    const engine = await sharedEngine();
    const tables = await createTables(engine.endpoint);
    const service = await runService({
      DATA_DIR: join(dir, 'data'),
      DYNAMODB_ENDPOINT: engine.endpoint,
      SHUTDOWN_DELAY_MS: '0',
      ...tables.env,
    }).ready;
    try {
      const key = /Bootstrap admin key \(shown once[^\n]*\n\s+(\S+)/.exec(service.stdout())?.[1] as string;
      expect(key).to.have.length.above(31);
      const created = await fetch(`${service.url}/v1/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ name: 'first integration', role: 'agent' }),
      });
      expect(created.status).to.equal(201);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }
  });

  it('refuses a taken port with one line, before starting DynamoDB Local or printing a key', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const dataDir = join(dir, 'data');
      const run = runService({ DATA_DIR: dataDir, PORT: String(port) });
      run.ready.catch(() => undefined);
      expect(await run.exited).to.equal(1);
      expect(errorLines(run.stderr())).to.deep.equal([
        `port ${port} is already in use by another process: stop it, or set PORT to a free port`,
      ]);
      expect(run.stdout()).to.not.include('Bootstrap admin key');
      expect(existsSync(join(dataDir, 'bootstrap-admin-key'))).to.equal(false);
      expect(existsSync(join(dataDir, 'dynamodb-local'))).to.equal(false);
    } finally {
      holder.close();
    }
  });

  it('says in one line what to install when Java is missing', async () => {
    const dataDir = join(dir, 'data');
    // Only node's own directory on PATH: no java there.
    const run = runService({ DATA_DIR: dataDir, PATH: dirname(process.execPath) });
    run.ready.catch(() => undefined);
    expect(await run.exited).to.equal(1);
    expect(errorLines(run.stderr())).to.deep.equal([JAVA_MISSING]);
    expect(run.stdout()).to.not.include('Bootstrap admin key');
    expect(existsSync(join(dataDir, LOCK_FILE)), 'the lock is released').to.equal(false);
  });

  it('refuses a data directory it cannot write with one line naming it', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const run = runService({ DATA_DIR: join(file, 'data') });
    run.ready.catch(() => undefined);
    expect(await run.exited).to.equal(1);
    expect(errorLines(run.stderr())).to.deep.equal([
      `DATA_DIR ${join(file, 'data')} is not writable (ENOTDIR): set DATA_DIR to a directory this user can write`,
    ]);
  });

  it('refuses a data directory another live process holds, and takes over the lock of a dead one', async () => {
    const dataDir = join(dir, 'data');
    const first = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    try {
      expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).to.equal(String(first.child.pid));
      const second = runService({ DATA_DIR: dataDir });
      second.ready.catch(() => undefined);
      expect(await second.exited).to.equal(1);
      const lines = errorLines(second.stderr());
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(new RegExp(`^DATA_DIR ${dataDir} is in use by process ${first.child.pid}: stop it`));
    } finally {
      first.child.kill('SIGTERM');
      expect(await first.exited).to.equal(0);
    }
    expect(existsSync(join(dataDir, LOCK_FILE)), 'the lock is released on a clean stop').to.equal(false);

    // A lock left by a process that no longer exists (a crash, a SIGKILL) is stale.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, LOCK_FILE), `${dead.pid}\n`);
    const third = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).to.equal(String(third.child.pid));
    third.child.kill('SIGTERM');
    expect(await third.exited).to.equal(0);
  });

  it('stops its DynamoDB Local on SIGTERM, and leaves none behind when it is killed outright', async () => {
    const dataDir = join(dir, 'data');
    const first = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    const firstTree = descendants(first.child.pid as number);
    expect(firstTree).to.include(engineJvm(first.child.pid as number));
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);
    await gone(firstTree);

    const second = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    const secondTree = descendants(second.child.pid as number);
    expect(secondTree).to.include(engineJvm(second.child.pid as number));
    second.child.kill('SIGKILL');
    await second.exited;
    await gone(secondTree);
  });

  it('says so in the log when its DynamoDB Local dies under it, and readiness fails', async () => {
    const service = await runService({ DATA_DIR: join(dir, 'data'), SHUTDOWN_DELAY_MS: '0' }).ready;
    try {
      process.kill(engineJvm(service.child.pid as number), 'SIGKILL');
      for (;;) {
        const logged = jsonLines(service.stdout()).find((l) => l.message === 'DynamoDB Local stopped unexpectedly');
        if (logged) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await fetch(`${service.url}/health/ready`)).status).to.equal(503);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }
  });

  it('still stops, with its DynamoDB Local, when whoever read its output has gone away', async () => {
    const service = await runService({ DATA_DIR: join(dir, 'data'), SHUTDOWN_DELAY_MS: '0' }).ready;
    const tree = descendants(service.child.pid as number);
    // The reader of the service's stdout dies (a closed terminal, a crashed supervisor): every log line
    // written from now on fails with EPIPE.
    service.child.stdout?.destroy();
    service.child.kill('SIGTERM');
    expect(await service.exited, 'a clean stop: lines it cannot write are no error of its own').to.equal(0);
    await gone(tree);
  });

  for (const fault of ['exception', 'rejection'] as const) {
    it(`logs an unhandled ${fault} as one JSON line, shuts down gracefully and exits 1`, async () => {
      const dataDir = join(dir, 'data');
      const service = await runService(
        { DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0', FAULT: fault },
        { nodeArgs: ['--import', './test/fixtures/process/fault-on-signal.ts'] },
      ).ready;
      const tree = descendants(service.child.pid as number);
      service.child.kill('SIGUSR2');
      expect(await service.exited).to.equal(1);
      const lines = jsonLines(service.stdout());
      const fatal = lines.findIndex((l) => l.level === 'error');
      const err = lines[fatal]?.err as { name: string; message: string; stack: string };
      expect(lines[fatal]?.message).to.equal(fault === 'exception' ? 'uncaught exception' : 'unhandled rejection');
      expect(err.message).to.equal(
        fault === 'exception' ? 'injected exception nobody catches' : 'injected rejection nobody handles',
      );
      expect(err.name).to.equal(fault === 'exception' ? 'TypeError' : 'Error');
      expect(err.stack).to.include('fault-on-signal.ts');
      const after = lines.slice(fatal + 1).map((l) => l.message);
      expect(after).to.include('shutting down: readiness now fails');
      expect(after.at(-1)).to.equal('stopped');
      expect(errorLines(service.stderr())).to.deep.equal([]);
      await gone(tree);
      expect(existsSync(join(dataDir, LOCK_FILE))).to.equal(false);
    });
  }
});
