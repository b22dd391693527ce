/**
 * The deploy job's rollout check (infra/checks): from `aws ecs describe-services` output, a release is done
 * only when the primary deployment runs the revision the update registered and its rollout COMPLETED. The
 * fixtures follow the shape the AWS CLI prints after a circuit-breaker rollback, a failed and a running rollout.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import {
  type DescribeServicesOutput,
  type EcsDeployment,
  EXIT_IN_PROGRESS,
  rolloutVerdict,
} from '../../infra/checks/rollout.js';
import { REPO_ROOT } from './support/stack-config.js';

const family = 'arn:aws:ecs:eu-west-3:123456789012:task-definition/freeda-production-api';
const RELEASED = `${family}:8`;
const PREVIOUS = `${family}:7`;

const deployment = (d: EcsDeployment): EcsDeployment => ({ desiredCount: 2, runningCount: 2, failedTasks: 0, ...d });
const described = (deployments: EcsDeployment[], events: string[] = []): DescribeServicesOutput => ({
  services: [{ serviceName: 'api-service', deployments, events: events.map((message) => ({ message })) }],
  failures: [],
});

const rolledBack = described(
  [
    deployment({ id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: PREVIOUS, rolloutState: 'COMPLETED' }),
    deployment({
      id: 'ecs-svc/1',
      status: 'ACTIVE',
      taskDefinition: RELEASED,
      rolloutState: 'FAILED',
      rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
      runningCount: 0,
      failedTasks: 3,
    }),
  ],
  [
    '(service api-service) rolling back to deployment ecs-svc/2.',
    '(service api-service) deployment ecs-svc/1 deployment failed: tasks failed to start.',
  ],
);

describe('rollout check of the deploy job', () => {
  it('passes when the primary deployment runs the released revision and its rollout completed', () => {
    const verdict = rolloutVerdict(
      described([deployment({ status: 'PRIMARY', taskDefinition: RELEASED, rolloutState: 'COMPLETED' })]),
      RELEASED,
    );
    expect(verdict).to.deep.equal({
      outcome: 'completed',
      message: 'freeda-production-api:8 rolled out (2/2 tasks running)',
    });
  });

  it('fails after a circuit-breaker rollback, naming both revisions, the reason and the latest events', () => {
    const verdict = rolloutVerdict(rolledBack, RELEASED);
    expect(verdict.outcome).to.equal('failed');
    expect(verdict.message.split('\n')[0]).to.equal(
      'the service runs freeda-production-api:7, not freeda-production-api:8 that this update registered: ECS ' +
        'rolled the release back (ECS deployment circuit breaker: tasks failed to start.). The previous version is serving.',
    );
    expect(verdict.message).to.include('rolling back to deployment ecs-svc/2');
  });

  it('fails when the released revision is primary but its rollout did not complete', () => {
    const verdict = rolloutVerdict(
      described([
        deployment({
          status: 'PRIMARY',
          taskDefinition: RELEASED,
          rolloutState: 'FAILED',
          rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
          runningCount: 0,
          failedTasks: 3,
        }),
      ]),
      RELEASED,
    );
    expect(verdict.outcome).to.equal('failed');
    expect(verdict.message).to.match(/rollout of freeda-production-api:8 is FAILED \(ECS deployment circuit breaker/);
    expect(verdict.message).to.include('0/2 tasks running, 3 failed tasks');
  });

  it('waits while the released revision is still rolling out', () => {
    const verdict = rolloutVerdict(
      described([
        deployment({ status: 'PRIMARY', taskDefinition: RELEASED, rolloutState: 'IN_PROGRESS', runningCount: 1 }),
      ]),
      RELEASED,
    );
    expect(verdict).to.deep.equal({
      outcome: 'in-progress',
      message: 'freeda-production-api:8 is rolling out (1/2 tasks running)',
    });
  });

  it('fails when the service is missing', () => {
    const verdict = rolloutVerdict(
      { services: [], failures: [{ arn: 'arn:aws:ecs:eu-west-3:123456789012:service/x', reason: 'MISSING' }] },
      RELEASED,
    );
    expect(verdict).to.deep.equal({
      outcome: 'failed',
      message: 'the service was not found (arn:aws:ecs:eu-west-3:123456789012:service/x: MISSING)',
    });
  });

  describe('as the command the workflow runs', function () {
    this.timeout(60_000);
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'freeda-rollout-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    const run = async (output: DescribeServicesOutput, expected: string) => {
      const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
      await writeFile(file, JSON.stringify(output));
      return promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'infra/checks/check-rollout.ts'), '--expected', expected, file],
        { cwd: REPO_ROOT },
      ).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (err: { code: number; stdout: string; stderr: string }) => ({
          code: err.code,
          stdout: err.stdout,
          stderr: err.stderr,
        }),
      );
    };

    it('exits 1 with a GitHub error annotation after a rollback, 75 while rolling out, 0 once done', async () => {
      const failed = await run(rolledBack, RELEASED);
      expect(failed.code).to.equal(1);
      expect(failed.stdout).to.match(/^::error title=Release not rolled out::the service runs freeda-production-api:7/);
      expect(failed.stderr).to.include('Latest service events');
      const pending = await run(
        described([deployment({ status: 'PRIMARY', taskDefinition: RELEASED, rolloutState: 'IN_PROGRESS' })]),
        RELEASED,
      );
      expect(pending.code).to.equal(EXIT_IN_PROGRESS);
      const done = await run(
        described([deployment({ status: 'PRIMARY', taskDefinition: RELEASED, rolloutState: 'COMPLETED' })]),
        RELEASED,
      );
      expect(done).to.deep.include({ code: 0 });
      expect(done.stdout).to.include('rolled out');
    });
  });
});
