/**
 * The deploy and preview workflows as GitHub reads them: what each step runs around `pulumi up`, checked
 * on the committed YAML (the steps that need AWS cannot run here; the logic they call is tested on its own).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse } from 'yaml';
import { REPO_ROOT } from './support/stack-config.js';
import { one, runCommittedStack, STACKS } from './support/stack-run.js';

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  if?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
const steps = (file: string): Step[] => {
  const workflow = parse(readFileSync(`${REPO_ROOT}.github/workflows/${file}`, 'utf8'));
  return Object.values(workflow.jobs as Record<string, { steps: Step[] }>)[0]?.steps ?? [];
};

describe('release workflows', function () {
  this.timeout(120_000);

  for (const stack of STACKS) {
    it(`reads the image platform of ${stack} from the stack settings, as the program does`, async () => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [`${REPO_ROOT}.github/scripts/stack-platform.mjs`, stack],
        { cwd: REPO_ROOT },
      );
      const run = await runCommittedStack(stack);
      expect(stdout.trim()).to.equal(one(run, 'awsx:ecr:Image').inputs.platform);
    });
  }

  for (const file of ['deploy.yml', 'preview.yml']) {
    it(`${file}: sets up QEMU for arm64 images before Buildx, when the stack builds for arm64`, () => {
      const all = steps(file);
      const qemu = all.findIndex((s) => s.uses?.startsWith('docker/setup-qemu-action@'));
      const buildx = all.findIndex((s) => s.uses?.startsWith('docker/setup-buildx-action@'));
      expect(qemu).to.be.greaterThan(-1);
      expect(qemu).to.be.lessThan(buildx);
      expect(all[qemu]?.if).to.equal("steps.platform.outputs.platform == 'linux/arm64'");
      expect(all[qemu]?.with).to.deep.equal({ platforms: 'arm64' });
    });
  }

  it('deploy.yml: refreshes by running the program, then checks the rollout and readiness from outside', () => {
    const all = steps('deploy.yml');
    const up = all.find((s) => s.id === 'up');
    expect(up?.with).to.deep.include({ command: 'up', refresh: true, policyPacks: 'infra/policy' });
    expect(up?.env?.PULUMI_RUN_PROGRAM).to.equal('true');
    const after = all.slice(all.indexOf(up as Step) + 1);
    expect(after[0]?.run).to.include('infra/checks/check-rollout.ts --expected "$EXPECTED"');
    expect(after[0]?.env?.EXPECTED).to.match(/^\$\{\{ steps\.up\.outputs\.taskDefinitionArn \}\}$/);
    expect(after[1]?.run).to.include('--connect-to "$host:$port:$ALB:$port"');
    expect(after[1]?.run).to.include('aws route53 get-health-check-status');
  });
});
