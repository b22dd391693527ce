/**
 * Runs the Pulumi program for one stack under `pulumi.runtime.setMocks`, in a process of its own (the
 * Pulumi runtime keeps its state per process), and writes what it registered as JSON.
 *
 *   node --import tsx test/infra/support/run-stack.ts <stack> <out.json>   (overrides: FREEDA_TEST_OVERRIDES)
 *
 * awsx components are remote: under mocks they arrive as one registration with their inputs, and the
 * state returned here stands in for their outputs. The transforms a component carries are recorded by
 * applying them to probe resources (the mock monitor never runs them itself).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { MockMonitor } from '@pulumi/pulumi/runtime/mocks.js';
import { type Overrides, resolveStackConfig } from './stack-config.js';
import { NO_COMMIT, PROBES, type RecordedResource, type StackRun, type TransformProbe } from './stack-run.js';

const [stack, outFile] = process.argv.slice(2);
if (!stack || !outFile) throw new Error('usage: run-stack.ts <stack> <out.json>');
const { [NO_COMMIT]: _noCommit, ...overrides } = JSON.parse(process.env.FREEDA_TEST_OVERRIDES ?? '{}') as Overrides;

const REGION = 'eu-west-3';
const ACCOUNT = '123456789012';
const resources: RecordedResource[] = [];
const transformProbes: TransformProbe[] = [];

/**
 * Resource options travel in the registration request, not in the mocks' arguments: read them there.
 * (protect, ignoreChanges and dependsOn are what the tests need.)
 */
// biome-ignore lint/suspicious/noExplicitAny: the request is a generated protobuf message
type RegisterRequest = any;
const options = new Map<string, RecordedResource['options']>();
const registerResource = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (this: MockMonitor, req: RegisterRequest, callback) {
  const propertyDependencies: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((deps: { getUrnsList(): string[] }, property: string) => {
    propertyDependencies[property] = deps.getUrnsList();
  });
  options.set(`${req.getType()}::${req.getName()}`, {
    protect: req.getProtect() ?? false,
    ignoreChanges: req.getIgnorechangesList(),
    dependsOn: req.getDependenciesList(),
    propertyDependencies,
  });
  return registerResource.call(this, req, callback);
};

/** Secret values arrive wrapped in Pulumi's secret signature; keep them visible as `{ secret: value }`. */
function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (record[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) {
    return { secret: unwrapSecrets(record.value) };
  }
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
}

const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;

/** Plausible outputs of each awsx component and of the custom resources whose outputs the program reads. */
function mockState(type: string, name: string, inputs: RecordedResource['inputs']): Record<string, unknown> {
  switch (type) {
    case 'awsx:ec2:Vpc':
      return {
        vpcId: 'vpc-0mock',
        publicSubnetIds: ['subnet-public-a', 'subnet-public-b'],
        privateSubnetIds: ['subnet-private-a', 'subnet-private-b'],
        routeTables: [{ id: 'rtb-public' }, { id: 'rtb-private-a' }, { id: 'rtb-private-b' }],
      };
    case 'awsx:lb:ApplicationLoadBalancer':
      return {
        loadBalancer: {
          arn: arn('elasticloadbalancing', `loadbalancer/app/${name}/0123456789abcdef`),
          arnSuffix: `app/${name}/0123456789abcdef`,
          dnsName: `${name}-0123456789.${REGION}.elb.amazonaws.com`,
          zoneId: 'Z3Q77PNBQS71R4',
        },
        defaultTargetGroup: {
          arn: arn('elasticloadbalancing', `targetgroup/${name}/fedcba9876543210`),
          arnSuffix: `targetgroup/${name}/fedcba9876543210`,
          port: inputs.defaultTargetGroup?.port,
        },
      };
    case 'awsx:ecr:Repository':
      return { url: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${name}-mock`, repository: { name: `${name}-mock` } };
    case 'awsx:ecr:Image':
      return { imageUri: `${inputs.repositoryUrl}@sha256:${'0'.repeat(64)}` };
    case 'awsx:ecs:FargateService': {
      // As after a circuit-breaker rollback: the update registered revision 8, the service (re-read from ECS)
      // runs revision 7.
      const family = inputs.taskDefinitionArgs?.family ?? name;
      return {
        service: {
          name: `${name}-service`,
          arn: arn('ecs', `service/${name}`),
          taskDefinition: arn('ecs', `task-definition/${family}:7`),
        },
        taskDefinition: { arn: arn('ecs', `task-definition/${family}:8`), family },
      };
    }
    case 'aws:secretsmanager/secretVersion:SecretVersion':
      // Secrets Manager gives each value its own version id; derive it from the value so a new value shows.
      return {
        ...inputs,
        versionId: `v-${createHash('sha256')
          .update(JSON.stringify(unwrapSecrets(inputs.secretString)))
          .digest('hex')
          .slice(0, 16)}`,
      };
    case 'aws:route53/healthCheck:HealthCheck':
      return { ...inputs, arn: arn('route53', `healthcheck/${name}`) };
    case 'random:index/randomPassword:RandomPassword':
      return { ...inputs, result: 'x'.repeat(inputs.length ?? 16) };
    case 'aws:dynamodb/table:Table':
      return { ...inputs, arn: arn('dynamodb', `table/${inputs.name}`) };
    case 'aws:kms/key:Key':
      return { ...inputs, arn: arn('kms', `key/${name}-key-id`), keyId: `${name}-key-id` };
    case 'aws:secretsmanager/secret:Secret':
      return { ...inputs, arn: arn('secretsmanager', `secret:${inputs.namePrefix ?? name}abcdef`) };
    case 'aws:sns/topic:Topic':
      return { ...inputs, arn: arn('sns', `${name}-topic`), name: `${name}-topic` };
    case 'aws:ecs/cluster:Cluster':
      return { ...inputs, arn: arn('ecs', `cluster/${name}-cluster`), name: `${name}-cluster` };
    default: {
      const kind = type.split(':')[1]?.split('/')[0] ?? 'mock';
      return { ...inputs, arn: arn(kind, `${name}`), name: inputs.name ?? `${name}-physical` };
    }
  }
}

async function probeTransforms(type: string, name: string, transforms: pulumi.ResourceTransform[]) {
  for (const transform of transforms) {
    const results: TransformProbe['results'] = {};
    for (const [probeType, props] of Object.entries(PROBES)) {
      const result = await transform({ custom: true, type: probeType, name, props: structuredClone(props), opts: {} });
      results[probeType] = result
        ? {
            props: result.props as Record<string, unknown>,
            ignoreChanges: result.opts.ignoreChanges ?? [],
            retainOnDelete: result.opts.retainOnDelete ?? false,
          }
        : null;
    }
    transformProbes.push({ component: type, name, results });
  }
}

async function main() {
  const { config, secretKeys } = resolveStackConfig(stack as string, overrides);
  pulumi.runtime.setAllConfig(config, secretKeys);
  await pulumi.runtime.setMocks(
    {
      async newResource(args) {
        resources.push({
          type: args.type,
          name: args.name,
          custom: args.custom ?? false,
          inputs: unwrapSecrets(args.inputs) as RecordedResource['inputs'],
          options: options.get(`${args.type}::${args.name}`) ?? {
            protect: false,
            ignoreChanges: [],
            dependsOn: [],
            propertyDependencies: {},
          },
        });
        if (args.transforms?.length) await probeTransforms(args.type, args.name, args.transforms);
        return { id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs) };
      },
      call(args) {
        switch (args.token) {
          case 'aws:index/getRegion:getRegion':
            return { id: REGION, name: REGION, region: REGION };
          case 'aws:index/getCallerIdentity:getCallerIdentity':
            return { id: ACCOUNT, accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/test`, userId: 'test' };
          case 'aws:ec2/getSubnet:getSubnet':
            return { id: args.inputs.id, vpcId: 'vpc-0mock' };
          case 'aws:ec2/getManagedPrefixList:getManagedPrefixList':
            return { ...args.inputs, id: `pl-${args.inputs.name}` };
          default:
            return args.inputs;
        }
      },
    },
    'freeda',
    stack,
    false,
  );

  const program = (await import('../../../infra/index.js')) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) {
    outputs[key] = pulumi.Output.isInstance(value)
      ? await new Promise((resolve) => (value as pulumi.Output<unknown>).apply(resolve))
      : value;
  }
  await pulumi.runtime.disconnect();
  const run: StackRun = { stack: stack as string, config, resources, outputs, transformProbes };
  writeFileSync(outFile as string, JSON.stringify(run));
}

process.on('unhandledRejection', (err) => {
  console.error(err);
  process.exit(1);
});
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
