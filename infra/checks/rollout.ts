/**
 * Whether an ECS service finished rolling out the task definition revision a `pulumi up` registered, read
 * from `aws ecs describe-services` output. ECS's circuit breaker rolls a failing release back on its own and
 * Pulumi still reports the update as done: only the primary deployment tells which revision really runs.
 */

export interface EcsDeployment {
  id?: string;
  status?: string;
  taskDefinition?: string;
  rolloutState?: string;
  rolloutStateReason?: string;
  desiredCount?: number;
  runningCount?: number;
  failedTasks?: number;
}

export interface DescribeServicesOutput {
  services?: { serviceName?: string; deployments?: EcsDeployment[]; events?: { message?: string }[] }[];
  failures?: { arn?: string; reason?: string }[];
}

export type RolloutVerdict =
  | { outcome: 'completed'; message: string }
  | { outcome: 'in-progress'; message: string }
  | { outcome: 'failed'; message: string };

/** Exit status of the check while the rollout is still going (EX_TEMPFAIL): the deploy job polls again. */
export const EXIT_IN_PROGRESS = 75;

/** Events ECS logged last (newest first in the API), quoted in a failure to say why. */
const RECENT_EVENTS = 3;

const revision = (arn: string | undefined) => arn?.split('/').pop() ?? 'no task definition';

export function rolloutVerdict(output: DescribeServicesOutput, expectedTaskDefinition: string): RolloutVerdict {
  const service = output.services?.[0];
  if (!service) {
    const reason = output.failures?.map((f) => `${f.arn ?? '?'}: ${f.reason ?? '?'}`).join('; ') || 'no service';
    return { outcome: 'failed', message: `the service was not found (${reason})` };
  }
  const deployments = service.deployments ?? [];
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  const recent = (service.events ?? [])
    .slice(0, RECENT_EVENTS)
    .map((e) => `  - ${e.message ?? ''}`)
    .join('\n');
  const because = (d: EcsDeployment | undefined) => (d?.rolloutStateReason ? ` (${d.rolloutStateReason})` : '');
  const withEvents = (message: string) => (recent ? `${message}\nLatest service events:\n${recent}` : message);

  if (!primary) return { outcome: 'failed', message: withEvents('the service has no primary deployment') };
  if (primary.taskDefinition !== expectedTaskDefinition) {
    const released = deployments.find((d) => d.taskDefinition === expectedTaskDefinition);
    return {
      outcome: 'failed',
      message: withEvents(
        `the service runs ${revision(primary.taskDefinition)}, not ${revision(expectedTaskDefinition)} that this ` +
          `update registered: ECS rolled the release back${because(released)}. The previous version is serving.`,
      ),
    };
  }
  const progress = `${primary.runningCount ?? '?'}/${primary.desiredCount ?? '?'} tasks running`;
  if (primary.rolloutState === 'IN_PROGRESS') {
    return { outcome: 'in-progress', message: `${revision(expectedTaskDefinition)} is rolling out (${progress})` };
  }
  if (primary.rolloutState !== 'COMPLETED') {
    return {
      outcome: 'failed',
      message: withEvents(
        `the rollout of ${revision(expectedTaskDefinition)} is ${primary.rolloutState ?? 'in no known state'}` +
          `${because(primary)}, not COMPLETED (${progress}, ${primary.failedTasks ?? 0} failed tasks)`,
      ),
    };
  }
  return { outcome: 'completed', message: `${revision(expectedTaskDefinition)} rolled out (${progress})` };
}
