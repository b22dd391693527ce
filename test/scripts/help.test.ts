/**
 * Every command under scripts/ (operator and benchmark scripts alike) answers `--help` with its usage and exit
 * code 0, without starting anything, and refuses an unknown option with exit code 2. The commands are found,
 * not listed: every TypeScript file under scripts/ that no other file there imports is a command.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect } from 'chai';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPTS = join(ROOT, 'scripts');

const files = readdirSync(SCRIPTS, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(SCRIPTS, f));
const imported = new Set(
  files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)].map((m) =>
      resolve(dirname(file), `${m[1]}.ts`),
    ),
  ),
);
const commands = files.filter((f) => !imported.has(f)).map((f) => relative(ROOT, f));

function run(script: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    // Nothing configured: help must not need a database, a key or a network.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('command-line help of every script', function () {
  this.timeout(120_000);

  it('finds the commands npm runs among them', () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const npmRun = Object.values(scripts)
      .map((s) => /^tsx (scripts\/\S+\.ts)/.exec(s)?.[1])
      .filter((s): s is string => !!s);
    expect(npmRun.length).to.be.above(0);
    expect(commands).to.include.members(npmRun);
  });

  for (const script of commands) {
    it(`${script} --help prints its usage and exits 0`, () => {
      const r = run(script, ['--help']);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^Usage: /);
      expect(r.stdout).to.match(/--help/);
      expect(r.stderr).to.not.match(/Error|at .*\(/);
    });

    it(`${script} refuses an unknown option with exit code 2 and its usage`, () => {
      const r = run(script, ['--no-such-option']);
      expect(r.status, r.stdout + r.stderr).to.equal(2);
      expect(r.stderr).to.match(/no-such-option/);
      expect(r.stderr).to.match(/Usage: /);
      expect(r.stderr).to.not.match(/\n\s+at /);
    });
  }
});
