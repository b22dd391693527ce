/**
 * `npm run bench:startup [-- --runs 5 --no-build]`
 *
 * Time from process start to the first 200 of `/health/ready`, against a DynamoDB-compatible endpoint in
 * another process (DynamoDB Local with the tables created), for:
 * - the compiled service as the image runs it (`npm run build`, then `node dist/api/server.js`);
 * - `npm start` (npm, then tsx compiling the TypeScript on the fly), against the same endpoint;
 * - `npm start` on the embedded engine (no endpoint: DynamoDB Local started by the service, a laptop's first run);
 * - a bare `node:http` server, the floor of starting Node at all on this machine.
 * Target: the compiled service ready in under 1 s.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTables, freePort, startLocalDynamoDB } from '../../test/support/local-dynamodb.js';
import { commandLine } from '../lib/command-line.js';
import { commit, fmt, machine, median, ROOT } from './lib.js';

const args = commandLine(
  `
Usage: npm run bench:startup [-- options]

Process start to the first 200 of /health/ready (tables checked, listener open) for a bare node:http
server, the compiled service, and npm start (on an endpoint and on the embedded engine). Builds dist/ first.
Prints a Markdown table for docs/performance.md.

Options:
  --runs <n>           runs of each variant; the median is reported (default 5)
  --no-build           use the dist/ already built (npm run build)
  --help               show this help
`,
  { runs: { type: 'string', default: '5' }, 'no-build': { type: 'boolean', default: false } },
);
const runs = Number(args.runs);

console.log(`Machine: ${machine()}`);
console.log(`Commit ${commit()}, ${new Date().toISOString()}; ${runs} runs each\n`);

if (!args['no-build']) {
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('npm run build failed');
}

/** Starts the command, polls readiness every 5 ms on fresh connections, then stops the whole process group. */
async function timeToReady(command: string, argv: string[], env: Record<string, string>, path: string) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(command, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}: ${stderr}`);
      if (performance.now() - started > 30_000) throw new Error(`${command} not ready after 30 s`);
      const status = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } })
        .then((r) => r.status)
        .catch(() => 0);
      if (status === 200) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    // npm does not always pass signals on: stop the group this run started (npm, node, tsx).
    if (child.pid) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }
}

const engine = await startLocalDynamoDB();
const dataDir = mkdtempSync(join(tmpdir(), 'freeda-startup-'));
try {
  const tables = await createTables(engine.endpoint);
  const service = {
    NODE_ENV: 'production',
    DYNAMODB_ENDPOINT: engine.endpoint,
    TOKEN_SIGNING_KEY: 'bench-token-signing-key-0123456789abcdefgh',
    BOOTSTRAP_ADMIN_KEY: 'bench-bootstrap-admin-key-0123456789abcdef',
    SHUTDOWN_DELAY_MS: '0',
    ...tables.env,
  };
  const variants: Array<[string, string, string[], Record<string, string>, string]> = [
    [
      'bare `node:http` server (the floor)',
      process.execPath,
      ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(process.env.PORT)"],
      {},
      '/',
    ],
    ['compiled service, `node dist/api/server.js`', process.execPath, ['dist/api/server.js'], service, '/health/ready'],
    ['`npm start` (tsx), same endpoint', 'npm', ['start', '--silent'], service, '/health/ready'],
    [
      '`npm start` (tsx), embedded engine',
      'npm',
      ['start', '--silent'],
      { NODE_ENV: 'development', DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' },
      '/health/ready',
    ],
  ];
  const results: Array<[string, number[]]> = [];
  for (const [name, command, argv, env, path] of variants) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await timeToReady(command, argv, env, path));
    results.push([name, times]);
    console.log(`${name}: ${times.map((t) => fmt(t)).join(', ')} ms`);
  }
  console.log('\n| process | ready after (median) | min | max |');
  console.log('|---|---|---|---|');
  for (const [name, times] of results) {
    console.log(
      `| ${name} | ${fmt(median(times))} ms | ${fmt(Math.min(...times))} ms | ${fmt(Math.max(...times))} ms |`,
    );
  }
} finally {
  await engine.close();
  rmSync(dataDir, { recursive: true, force: true });
}
