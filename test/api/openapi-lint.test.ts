/**
 * The served OpenAPI document passes Redocly's linter with its recommended rules, run as the CLI a developer
 * runs (`redocly lint`), on the document exactly as `/openapi.json` serves it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { type Harness, startHarness } from '../support/harness.js';

const cli = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
}

function lint(file: string, cwd: string): Promise<{ code: number; report: LintReport; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cli, 'lint', '--extends=recommended', '--format=json', file],
      // A directory of its own: no redocly.yaml is picked up. No telemetry, no update check: tests stay offline.
      { cwd, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        try {
          resolve({ code, report: JSON.parse(stdout) as LintReport, stderr });
        } catch {
          reject(new Error(`redocly lint printed no JSON report (exit ${code}): ${stderr}${stdout}`));
        }
      },
    );
  });
}

describe('OpenAPI document lint (redocly, recommended rules)', () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startHarness();
    dir = await mkdtemp(join(tmpdir(), 'freeda-openapi-'));
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('has no error', async () => {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify((await h.http().get('/openapi.json').expect(200)).body));
    const { code, report, stderr } = await lint(file, dir);
    const errors = report.problems
      .filter((p) => p.severity === 'error')
      .map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect(errors, stderr).to.deep.equal([]);
    expect(report.totals.errors).to.equal(0);
    expect(code).to.equal(0);
  });

  it('warns only that health checks and the document itself have no 4xx answer (they have none)', async () => {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify((await h.http().get('/openapi.json').expect(200)).body));
    const { report } = await lint(file, dir);
    const warnings = report.problems.filter((p) => p.severity === 'warn');
    const unexpected = warnings.filter(
      (p) =>
        !(
          p.ruleId === 'operation-4xx-response' &&
          /^#\/paths\/~1(health|openapi\.json|docs)/.test(p.location[0]?.pointer ?? '')
        ) && p.ruleId !== 'info-license',
    );
    expect(unexpected.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)).to.deep.equal([]);
  });
});
