/**
 * Service tier: the ECS cluster, the service's log group and the Fargate service behind the ALB.
 * The container gets its configuration from the resources (table names, topic ARN) and its secrets from
 * Secrets Manager; variable names, port and stop timeout come from the runtime contract in api/.
 */
import * as aws from '@pulumi/aws';
import * as awsx from '@pulumi/awsx';
import * as pulumi from '@pulumi/pulumi';
import { CONTAINER_PORT, ENV, HEALTH_PATHS, PROXY_HOPS_ON_AWS, STOP_TIMEOUT_SECONDS } from '../api/contract.js';
import type { Settings } from './config.js';
import type { DataTier } from './data.js';
import type { EdgeTier } from './edge.js';
import type { ImageTier } from './image.js';
import type { NetworkTier } from './network.js';
import type { ServiceSecret } from './secrets.js';

export const CONTAINER_NAME = 'api';
/** Seconds after a task starts during which failing ALB health checks do not get it replaced. */
export const HEALTH_CHECK_GRACE_SECONDS = 30;

/**
 * Autoscaling owns the running task count. Without this, every `pulumi up` that touches the service (a
 * new image, a refresh) would send the program's desiredCount and undo a scale-out. The option has to
 * reach the `aws:ecs/service:Service` inside the awsx component, which only a transform can do.
 */
export const ignoreDesiredCount: pulumi.ResourceTransform = (args) =>
  args.type === 'aws:ecs/service:Service'
    ? {
        props: args.props,
        opts: pulumi.mergeOptions(args.opts, { ignoreChanges: ['desiredCount'] }),
      }
    : undefined;

/**
 * ECS ignores the image's HEALTHCHECK; this is the same liveness probe in the task definition, so ECS
 * replaces a container whose process stopped serving even before the ALB notices.
 */
export const CONTAINER_HEALTH_CHECK = {
  command: [
    'CMD',
    'node',
    '-e',
    `fetch('http://127.0.0.1:${CONTAINER_PORT}${HEALTH_PATHS.live}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
  ],
  interval: 15,
  timeout: 5,
  retries: 3,
  startPeriod: 15,
};

export interface ContainerEnvironmentInputs {
  settings: Settings;
  region: pulumi.Input<string>;
  tables: DataTier['tables'];
  alertsTopicArn: pulumi.Input<string>;
}

/** Plain environment of the container, sorted by name so the task definition is stable. */
export function containerEnvironment(
  inputs: ContainerEnvironmentInputs,
): { name: string; value: pulumi.Input<string> }[] {
  const { settings } = inputs;
  const env: { name: string; value: pulumi.Input<string> }[] = [
    { name: ENV.nodeEnv, value: 'production' },
    { name: ENV.port, value: String(CONTAINER_PORT) },
    { name: ENV.logLevel, value: settings.service.logLevel },
    { name: ENV.awsRegion, value: inputs.region },
    { name: ENV.shutdownDelayMs, value: String(settings.service.shutdownDelayMs) },
    { name: ENV.trustProxyHops, value: String(PROXY_HOPS_ON_AWS) },
    { name: ENV.corsOrigins, value: settings.service.corsOrigins },
    { name: ENV.alertsTopicArn, value: inputs.alertsTopicArn },
    ...inputs.tables.map(({ definition, table }) => ({ name: definition.envVar, value: table.name })),
    ...(settings.service.mistralModel ? [{ name: ENV.mistralModel, value: settings.service.mistralModel }] : []),
  ];
  return env.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * One task definition family per stack. awsx's default family hashes the container definitions, so every new
 * image made a new family, a replacement, and the deregistration of the previous revision (INACTIVE: ECS then
 * refuses `update-service --task-definition` to it). With a stable family each release is the next revision.
 */
export const taskFamily = (settings: Settings) => `${settings.prefix}-api`;

/**
 * Redeploys the service whenever a secret gets a new version (rotation, `--replace` of the generated key):
 * ECS reads a secret when a task starts, so without a new deployment running tasks keep the old value.
 * Keyed by the variable the container receives, valued by the version Secrets Manager assigned.
 */
export function secretTriggers(secrets: ServiceSecret[]): pulumi.Output<Record<string, string>> {
  return pulumi
    .all(secrets.map(({ env, version }) => pulumi.all([env, version.versionId])))
    .apply((pairs) => Object.fromEntries([...pairs].sort(([a], [b]) => a.localeCompare(b))));
}

export interface ServiceTier {
  cluster: aws.ecs.Cluster;
  logGroup: aws.cloudwatch.LogGroup;
  service: awsx.ecs.FargateService;
  /**
   * ARN of the task definition revision this update registered. The service's own `taskDefinition` is re-read
   * from ECS, so after a circuit-breaker rollback it names the old revision and cannot reveal the rollback.
   */
  taskDefinitionArn: pulumi.Output<string>;
}

export function createServiceTier(args: {
  settings: Settings;
  region: pulumi.Input<string>;
  network: NetworkTier;
  edge: EdgeTier;
  image: ImageTier;
  data: DataTier;
  secrets: ServiceSecret[];
  taskRole: aws.iam.Role;
  executionRole: aws.iam.Role;
  /** Role policies the tasks need from their first start. */
  grants: pulumi.Resource[];
  alertsTopicArn: pulumi.Input<string>;
}): ServiceTier {
  const { settings, network, edge } = args;

  const cluster = new aws.ecs.Cluster('cluster', {
    settings: [{ name: 'containerInsights', value: settings.monitoring.containerInsights }],
  });

  const logGroup = new aws.cloudwatch.LogGroup('api', {
    name: `/ecs/${settings.prefix}/api`,
    retentionInDays: settings.service.logRetentionDays,
  });

  const service = new awsx.ecs.FargateService(
    'api',
    {
      cluster: cluster.arn,
      desiredCount: settings.scaling.minTasks,
      networkConfiguration: {
        subnets: network.vpc.privateSubnetIds,
        securityGroups: [network.taskSecurityGroup.id],
        assignPublicIp: false,
      },
      deploymentCircuitBreaker: { enable: true, rollback: true },
      deploymentMinimumHealthyPercent: 100,
      deploymentMaximumPercent: 200,
      healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS,
      propagateTags: 'SERVICE',
      enableEcsManagedTags: true,
      enableExecuteCommand: false,
      forceNewDeployment: true,
      triggers: secretTriggers(args.secrets),
      taskDefinitionArgs: {
        family: taskFamily(settings),
        // Replaced revisions stay ACTIVE: rollback targets (docs/deploy.md, "Rollback").
        skipDestroy: true,
        cpu: String(settings.task.cpu),
        memory: String(settings.task.memory),
        runtimePlatform: {
          operatingSystemFamily: 'LINUX',
          cpuArchitecture: settings.task.platform === 'linux/arm64' ? 'ARM64' : 'X86_64',
        },
        executionRole: { roleArn: args.executionRole.arn },
        taskRole: { roleArn: args.taskRole.arn },
        // The log group above (with its retention) is used; awsx must not create one without retention.
        logGroup: { skip: true },
        container: {
          name: CONTAINER_NAME,
          image: args.image.image.imageUri,
          essential: true,
          portMappings: [{ containerPort: CONTAINER_PORT, protocol: 'tcp', targetGroup: edge.alb.defaultTargetGroup }],
          environment: containerEnvironment({
            settings,
            region: args.region,
            tables: args.data.tables,
            alertsTopicArn: args.alertsTopicArn,
          }),
          secrets: args.secrets
            .map(({ env, secret }) => ({ name: env, valueFrom: secret.arn }))
            .sort((a, b) => a.name.localeCompare(b.name)),
          healthCheck: CONTAINER_HEALTH_CHECK,
          stopTimeout: STOP_TIMEOUT_SECONDS,
          linuxParameters: { initProcessEnabled: true },
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': logGroup.name,
              'awslogs-region': args.region,
              'awslogs-stream-prefix': CONTAINER_NAME,
              // A slow CloudWatch never blocks the service's stdout; the buffer absorbs bursts.
              mode: 'non-blocking',
              'max-buffer-size': '25m',
            },
          },
        },
      },
    },
    {
      transforms: [ignoreDesiredCount],
      // Before the first task starts: the listeners (ECS registers targets in the target group), the
      // secrets' values and the roles' policies (a task that cannot read its secrets fails to start, and
      // three such failures trip the circuit breaker).
      dependsOn: [edge.alb, ...args.secrets.map((s) => s.version), ...args.grants],
    },
  );

  const taskDefinitionArn = service.taskDefinition.apply((definition) => {
    if (!definition) throw new Error('the Fargate service registered no task definition');
    return definition.arn;
  });
  return { cluster, logGroup, service, taskDefinitionArn };
}
