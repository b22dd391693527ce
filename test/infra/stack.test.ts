/**
 * The Pulumi program of each stack, run under mocks with the committed stack settings (production also
 * with the values its operator sets: certificate, domain, alarm e-mail). awsx components are asserted on
 * the inputs the program gives them, plain AWS resources on their own inputs and options.
 */
import { expect } from 'chai';
import {
  ALB_IDLE_TIMEOUT_SECONDS,
  CONTAINER_PORT,
  ENV,
  HEALTH_PATHS,
  LOG_EVENTS,
  SECRET_ENV,
  STOP_TIMEOUT_SECONDS,
} from '../../api/contract.js';
import { SERVICE_DYNAMODB_ACTIONS } from '../../api/db/permissions.js';
import { keyAttributes, prefixedTableNames, TABLES, tableEnv } from '../../api/db/tables.js';
import type { PublicAccess } from '../../infra/config.js';
import type { PolicyDocument } from '../../infra/iam.js';
import { CACHE_TAG } from '../../infra/image.js';
import { DATA_OPERATIONS } from '../../infra/monitoring.js';
import { worldIngress } from '../../infra/policy/rules.js';
import {
  ofType,
  one,
  PRODUCTION_OPERATOR_SETTINGS,
  type RecordedResource,
  runCommittedStack,
  STACKS,
  STAGING_OPERATOR_SETTINGS,
  type StackName,
  type StackRun,
  TEST_COMMIT,
} from './support/stack-run.js';

/** What each stack must be, from the product's infrastructure specification. */
const EXPECTED: Record<
  StackName,
  {
    scaling: [number, number];
    natGateways: string;
    protect: boolean;
    access: PublicAccess;
    https: boolean;
    waf: boolean;
    logRetentionDays: number;
    cpu: string;
    memory: string;
  }
> = {
  staging: {
    scaling: [1, 2],
    natGateways: 'Single',
    protect: false,
    access: 'restricted-http',
    https: false,
    waf: false,
    logRetentionDays: 14,
    cpu: '256',
    memory: '512',
  },
  production: {
    scaling: [2, 10],
    natGateways: 'OnePerAz',
    protect: true,
    access: 'https',
    https: true,
    waf: true,
    logRetentionDays: 90,
    cpu: '512',
    memory: '1024',
  },
};

const TYPES = {
  table: 'aws:dynamodb/table:Table',
  key: 'aws:kms/key:Key',
  vpc: 'awsx:ec2:Vpc',
  endpoint: 'aws:ec2/vpcEndpoint:VpcEndpoint',
  sg: 'aws:ec2/securityGroup:SecurityGroup',
  ingress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  egress: 'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule',
  alb: 'awsx:lb:ApplicationLoadBalancer',
  service: 'awsx:ecs:FargateService',
  repository: 'awsx:ecr:Repository',
  image: 'awsx:ecr:Image',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  attachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  secret: 'aws:secretsmanager/secret:Secret',
  secretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
  scalingTarget: 'aws:appautoscaling/target:Target',
  scalingPolicy: 'aws:appautoscaling/policy:Policy',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
  alarm: 'aws:cloudwatch/metricAlarm:MetricAlarm',
  metricFilter: 'aws:cloudwatch/logMetricFilter:LogMetricFilter',
  topic: 'aws:sns/topic:Topic',
  subscription: 'aws:sns/topicSubscription:TopicSubscription',
  dashboard: 'aws:cloudwatch/dashboard:Dashboard',
  webAcl: 'aws:wafv2/webAcl:WebAcl',
  webAclAssociation: 'aws:wafv2/webAclAssociation:WebAclAssociation',
  cluster: 'aws:ecs/cluster:Cluster',
  healthCheck: 'aws:route53/healthCheck:HealthCheck',
  record: 'aws:route53/record:Record',
};
const US_EAST_1_TOPIC_ARN = 'arn:aws:sns:eu-west-3:123456789012:alerts-us-east-1-topic';

// Mock ARNs and IDs follow run-stack.ts: `<name>-id`, and ARNs from the mocked state.
const idOf = (r: RecordedResource) => `${r.name}-id`;
const arnOfTable = (name: string) => `arn:aws:dynamodb:eu-west-3:123456789012:table/${name}`;
const TOPIC_ARN = 'arn:aws:sns:eu-west-3:123456789012:alerts-topic';
const KEY_ARN = 'arn:aws:kms:eu-west-3:123456789012:key/data-key-id';
const secretArn = (stack: string, name: string) =>
  `arn:aws:secretsmanager:eu-west-3:123456789012:secret:freeda-${stack}/${name}-abcdef`;

const container = (run: StackRun) => one(run, TYPES.service).inputs.taskDefinitionArgs.container;
const policyOf = (run: StackRun, name: string) =>
  JSON.parse(one(run, TYPES.rolePolicy, name).inputs.policy) as PolicyDocument;
const sorted = (values: Iterable<string>) => [...values].sort();

for (const stack of STACKS) {
  const expected = EXPECTED[stack];

  describe(`${stack} stack`, function () {
    this.timeout(120_000);
    let run: StackRun;
    before(async () => {
      run = await runCommittedStack(stack);
    });

    describe('data', () => {
      it('declares one table per definition, with its key schema, every index and its projection, and its TTL', () => {
        expect(ofType(run, TYPES.table)).to.have.length(TABLES.length);
        for (const definition of TABLES) {
          const table = one(run, TYPES.table, definition.suffix).inputs;
          expect(table.name).to.equal(`freeda-${stack}-${definition.suffix}`);
          expect(table.billingMode).to.equal('PAY_PER_REQUEST');
          expect(table.hashKey).to.equal(definition.partitionKey.name);
          expect(table.rangeKey).to.equal(definition.sortKey?.name);
          expect(table.attributes).to.deep.equal(
            keyAttributes(definition).map((a) => ({ name: a.name, type: a.type })),
          );
          expect(table.ttl).to.deep.equal(
            definition.ttlAttribute ? { attributeName: definition.ttlAttribute, enabled: true } : undefined,
          );
          const indexes = (table.globalSecondaryIndexes ?? []) as Record<string, unknown>[];
          expect(indexes.map((i) => i.name)).to.deep.equal(definition.indexes.map((i) => i.name));
          for (const index of definition.indexes) {
            const declared = indexes.find((i) => i.name === index.name);
            // Keys on the current `keySchemas`, none on the deprecated hashKey/rangeKey.
            expect(declared, index.name).to.deep.equal({
              name: index.name,
              keySchemas: [
                { attributeName: index.partitionKey.name, keyType: 'HASH' },
                ...(index.sortKey ? [{ attributeName: index.sortKey.name, keyType: 'RANGE' }] : []),
              ],
              projectionType: index.projection,
            });
          }
        }
      });

      it('keeps point-in-time recovery and encrypts every table with the stack key', () => {
        for (const table of ofType(run, TYPES.table)) {
          expect(table.inputs.pointInTimeRecovery).to.deep.equal({ enabled: true });
          expect(table.inputs.serverSideEncryption).to.deep.equal({ enabled: true, kmsKeyArn: KEY_ARN });
        }
        expect(one(run, TYPES.key).inputs.enableKeyRotation).to.equal(true);
      });

      if (expected.protect) {
        it('protects the tables and their key against deletion (deletion protection and Pulumi protect)', () => {
          for (const table of ofType(run, TYPES.table)) {
            expect(table.inputs.deletionProtectionEnabled, table.name).to.equal(true);
            expect(table.options.protect, table.name).to.equal(true);
          }
          expect(one(run, TYPES.key).options.protect).to.equal(true);
        });
      } else {
        it('leaves the tables deletable so the stack can be recreated', () => {
          for (const table of ofType(run, TYPES.table)) {
            expect(table.inputs.deletionProtectionEnabled, table.name).to.equal(false);
            expect(table.options.protect, table.name).to.equal(false);
          }
        });
      }
    });

    describe('network', () => {
      it(`spans at least two zones with ${expected.natGateways} NAT and keeps DynamoDB traffic on a gateway endpoint`, () => {
        const vpc = one(run, TYPES.vpc).inputs;
        expect(vpc.numberOfAvailabilityZones).to.be.at.least(2);
        expect(vpc.natGateways).to.deep.equal({ strategy: expected.natGateways });
        expect(vpc.subnetSpecs.map((s: { type: string }) => s.type)).to.have.members(['Public', 'Private']);
        const endpoint = one(run, TYPES.endpoint).inputs;
        expect(endpoint).to.deep.include({
          vpcEndpointType: 'Gateway',
          serviceName: 'com.amazonaws.eu-west-3.dynamodb',
          vpcId: 'vpc-0mock',
        });
        expect(endpoint.routeTableIds).to.deep.equal(['rtb-public', 'rtb-private-a', 'rtb-private-b']);
      });

      it('runs the tasks in private subnets without public IPs, behind their own security group', () => {
        const network = one(run, TYPES.service).inputs.networkConfiguration;
        expect(network).to.deep.equal({
          assignPublicIp: false,
          subnets: ['subnet-private-a', 'subnet-private-b'],
          securityGroups: [idOf(one(run, TYPES.sg, 'tasks'))],
        });
      });

      it('lets the tasks be reached on the container port from the ALB security group only', () => {
        const toTasks = ofType(run, TYPES.ingress).filter((r) => r.inputs.securityGroupId === 'tasks-id');
        expect(toTasks.map((r) => r.inputs)).to.deep.equal([
          {
            securityGroupId: 'tasks-id',
            description: 'Requests and health checks from the ALB',
            ipProtocol: 'tcp',
            fromPort: CONTAINER_PORT,
            toPort: CONTAINER_PORT,
            referencedSecurityGroupId: 'alb-id',
          },
        ]);
        for (const sg of ofType(run, TYPES.sg)) expect(sg.inputs.ingress, sg.name).to.equal(undefined);
        const albOut = ofType(run, TYPES.egress).filter((r) => r.inputs.securityGroupId === 'alb-id');
        expect(albOut.map((r) => [r.inputs.fromPort, r.inputs.referencedSecurityGroupId])).to.deep.equal([
          [CONTAINER_PORT, 'tasks-id'],
        ]);
      });

      const openToWorld = () =>
        run.resources.flatMap((r) =>
          worldIngress({ type: r.type, urn: r.name, props: r.inputs }).map((rule) => ({ rule, on: r })),
        );

      if (expected.access === 'https') {
        it('opens nothing to the internet but the ALB’s 80 (redirect) and 443', () => {
          const open = openToWorld();
          expect(open.map(({ on }) => on.inputs.securityGroupId)).to.satisfy((ids: string[]) =>
            ids.every((id) => id === 'alb-id'),
          );
          expect(open.map(({ rule }) => [rule.protocol, rule.fromPort, rule.toPort])).to.deep.equal([
            ['tcp', 80, 80],
            ['tcp', 443, 443],
          ]);
          expect(one(run, TYPES.alb).inputs.securityGroups).to.deep.equal(['alb-id']);
        });
      } else {
        it('opens nothing to the internet: the ALB’s port 80 only to the allowed networks and the health checkers', () => {
          expect(openToWorld()).to.deep.equal([]);
          const toAlb = ofType(run, TYPES.ingress).filter((r) => r.inputs.securityGroupId === 'alb-id');
          const allowed = String(STAGING_OPERATOR_SETTINGS.allowedCidrs)
            .split(',')
            .map((c) => c.trim());
          expect(toAlb.map((r) => r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? r.inputs.prefixListId)).to.deep.equal([
            ...allowed,
            'pl-com.amazonaws.eu-west-3.route53-healthchecks',
          ]);
          for (const rule of toAlb) {
            expect([rule.inputs.ipProtocol, rule.inputs.fromPort, rule.inputs.toPort], rule.name).to.deep.equal([
              'tcp',
              80,
              80,
            ]);
          }
          expect(toAlb.find((r) => r.inputs.cidrIpv6)?.inputs.cidrIpv6).to.equal('2001:db8::/48');
        });
      }
    });

    describe('load balancer', () => {
      it('forwards to a target group on the container port, health-checked on the readiness path', () => {
        const alb = one(run, TYPES.alb).inputs;
        expect(alb.defaultTargetGroup).to.deep.include({ port: CONTAINER_PORT, protocol: 'HTTP', targetType: 'ip' });
        expect(alb.defaultTargetGroup.healthCheck).to.deep.include({ path: HEALTH_PATHS.ready, matcher: '200' });
        expect(alb.defaultTargetGroup.deregistrationDelay).to.be.within(5, STOP_TIMEOUT_SECONDS);
        expect(alb.idleTimeout).to.equal(ALB_IDLE_TIMEOUT_SECONDS);
        expect(alb.subnetIds).to.deep.equal(['subnet-public-a', 'subnet-public-b']);
        const [mapping, ...others] = container(run).portMappings;
        expect(others).to.have.length(0);
        expect(mapping.containerPort).to.equal(CONTAINER_PORT);
        expect(mapping.targetGroup.arn).to.match(/:targetgroup\/api\//);
        expect(mapping.targetGroup.port).to.equal(CONTAINER_PORT);
      });

      if (expected.https) {
        it('serves HTTPS with the configured certificate and redirects HTTP to HTTPS', () => {
          const alb = one(run, TYPES.alb).inputs;
          expect(alb.listener).to.equal(undefined);
          const [https, http] = alb.listeners;
          expect(https).to.deep.include({
            port: 443,
            protocol: 'HTTPS',
            certificateArn: PRODUCTION_OPERATOR_SETTINGS.certificateArn,
          });
          expect(https.sslPolicy).to.match(/TLS13/);
          expect(http).to.deep.include({ port: 80, protocol: 'HTTP' });
          expect(http.defaultActions).to.deep.equal([
            { type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } },
          ]);
        });
      } else {
        it('serves plain HTTP on port 80 (restricted) when no certificate is configured', () => {
          const alb = one(run, TYPES.alb).inputs;
          expect(alb.listener).to.deep.equal({ port: 80, protocol: 'HTTP' });
          expect(alb.listeners).to.equal(undefined);
        });
      }

      if (expected.waf) {
        it('puts a WAF web ACL with a per-IP rate limit in front of the ALB', () => {
          const acl = one(run, TYPES.webAcl).inputs;
          expect(acl.scope).to.equal('REGIONAL');
          const rate = acl.rules.find((r: { name: string }) => r.name === 'per-ip-rate-limit');
          expect(rate.action).to.deep.equal({ block: {} });
          expect(rate.statement.rateBasedStatement).to.deep.include({ aggregateKeyType: 'IP', limit: 1000 });
          const association = one(run, TYPES.webAclAssociation).inputs;
          expect(association.resourceArn).to.match(/:loadbalancer\/app\/api\//);
        });
      } else {
        it('has no WAF web ACL', () => {
          expect(ofType(run, TYPES.webAcl)).to.have.length(0);
        });
      }
    });

    describe('service', () => {
      it(`runs ${expected.cpu} CPU units and ${expected.memory} MiB per task, from the image built for its platform`, () => {
        const task = one(run, TYPES.service).inputs.taskDefinitionArgs;
        expect([task.cpu, task.memory]).to.deep.equal([expected.cpu, expected.memory]);
        expect(task.runtimePlatform).to.deep.equal({ operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' });
        const image = one(run, TYPES.image).inputs;
        expect(image).to.deep.include({ context: '.', dockerfile: 'api/Dockerfile', platform: 'linux/amd64' });
        expect(container(run).image).to.match(/@sha256:[0-9a-f]{64}$/);
      });

      it('tags the image with the commit and builds from the stable layer cache of the repository', () => {
        const image = one(run, TYPES.image).inputs;
        expect(image.imageTag).to.equal(TEST_COMMIT.slice(0, 12));
        expect(image.cacheFrom).to.deep.equal([`${run.outputs.repositoryUrl}:${CACHE_TAG}`]);
      });

      it('keeps every pushed image when its build resource goes, and writes the full layer cache', () => {
        const probes = run.transformProbes.filter((p) => p.component === TYPES.image);
        expect(probes).to.have.length(1);
        const onBuild = probes[0]?.results['docker-build:index:Image'];
        expect(onBuild?.retainOnDelete).to.equal(true);
        const cacheRef = '123456789012.dkr.ecr.eu-west-3.amazonaws.com/api-mock:buildcache';
        expect(onBuild?.props.cacheTo).to.deep.equal([
          { inline: {} },
          { registry: { ref: cacheRef, mode: 'max', imageManifest: true, ociMediaTypes: true } },
        ]);
        expect(onBuild?.props).to.deep.include({ push: true, cacheFrom: [{ registry: { ref: cacheRef } }] });
        expect(probes[0]?.results['aws:ecs/service:Service'], 'other children are left alone').to.equal(null);
      });

      it('registers each release as the next revision of one family per stack, never deregistering the previous', () => {
        const task = one(run, TYPES.service).inputs.taskDefinitionArgs;
        expect(task.family).to.equal(`freeda-${stack}-api`);
        expect(task.skipDestroy).to.equal(true);
      });

      it('redeploys the service when any secret gets a new version', () => {
        const service = one(run, TYPES.service).inputs;
        expect(service.forceNewDeployment).to.equal(true);
        const versions = ofType(run, TYPES.secretVersion);
        const envOf = Object.fromEntries(
          ofType(run, TYPES.secret).map((s) => [`${s.name}-id`, s.name.toUpperCase().replace(/-/g, '_')]),
        );
        expect(Object.keys(service.triggers).sort()).to.deep.equal(sorted(SECRET_ENV));
        for (const version of versions) {
          const env = envOf[version.inputs.secretId];
          expect(env, version.name).to.be.a('string');
          expect(service.triggers[env as string], version.name).to.match(/^v-[0-9a-f]{16}$/);
        }
        expect(new Set(Object.values(service.triggers)).size).to.equal(versions.length);
      });

      it('configures the container from the runtime contract and the stack resources', () => {
        const env = Object.fromEntries(
          (container(run).environment as { name: string; value: string }[]).map((e) => [e.name, e.value]),
        );
        expect(env).to.deep.equal({
          [ENV.nodeEnv]: 'production',
          [ENV.port]: String(CONTAINER_PORT),
          [ENV.logLevel]: run.config['freeda:logLevel'],
          [ENV.awsRegion]: 'eu-west-3',
          [ENV.shutdownDelayMs]: '5000',
          [ENV.trustProxyHops]: '1',
          [ENV.corsOrigins]: '',
          [ENV.alertsTopicArn]: TOPIC_ARN,
          ...tableEnv(prefixedTableNames(`freeda-${stack}`)),
        });
      });

      it('injects every secret variable from Secrets Manager and none as plain environment', () => {
        const c = container(run);
        expect(sorted(c.secrets.map((s: { name: string }) => s.name))).to.deep.equal(sorted(SECRET_ENV));
        const plain = (c.environment as { name: string }[]).map((e) => e.name);
        for (const name of SECRET_ENV) expect(plain).not.to.include(name);
        for (const s of c.secrets) expect(s.valueFrom).to.match(/^arn:aws:secretsmanager:/);
        for (const version of ofType(run, TYPES.secretVersion)) {
          expect(version.inputs.secretString, version.name).to.have.property('secret');
        }
        for (const secret of ofType(run, TYPES.secret)) expect(secret.inputs.kmsKeyId).to.equal(KEY_ARN);
      });

      it('shuts down gracefully (init process, stop timeout from the contract) and probes liveness', () => {
        const c = container(run);
        expect(c.linuxParameters).to.deep.equal({ initProcessEnabled: true });
        expect(c.stopTimeout).to.equal(STOP_TIMEOUT_SECONDS);
        expect(c.healthCheck.command.join(' ')).to.include(`127.0.0.1:${CONTAINER_PORT}${HEALTH_PATHS.live}`);
      });

      it('starts tasks only once the listeners, the secret values and the role policies exist', () => {
        const dependencies = one(run, TYPES.service).options.dependsOn;
        const urnOf = (type: string, name: string) => `urn:pulumi:${stack}::freeda::${type}::${name}`;
        expect(dependencies).to.include(urnOf(TYPES.alb, 'api'));
        for (const version of ofType(run, TYPES.secretVersion)) {
          expect(dependencies).to.include(urnOf(TYPES.secretVersion, version.name));
        }
        for (const name of ['task', 'execution-secrets'])
          expect(dependencies).to.include(urnOf(TYPES.rolePolicy, name));
        expect(dependencies).to.include(urnOf(TYPES.attachment, 'execution-managed'));
      });

      it('rolls a failed deployment back and keeps full capacity while deploying', () => {
        const service = one(run, TYPES.service).inputs;
        expect(service.deploymentCircuitBreaker).to.deep.equal({ enable: true, rollback: true });
        expect(service.deploymentMinimumHealthyPercent).to.equal(100);
        expect(service.deploymentMaximumPercent).to.equal(200);
      });

      it(`ships logs to a log group kept ${expected.logRetentionDays} days, and no awsx default log group`, () => {
        const logGroup = one(run, TYPES.logGroup).inputs;
        expect(logGroup.retentionInDays).to.equal(expected.logRetentionDays);
        const task = one(run, TYPES.service).inputs.taskDefinitionArgs;
        expect(task.logGroup).to.deep.equal({ skip: true });
        expect(task.container.logConfiguration.logDriver).to.equal('awslogs');
        expect(task.container.logConfiguration.options['awslogs-group']).to.equal(logGroup.name);
      });
    });

    describe('scaling', () => {
      it('leaves the task count to autoscaling: the inner ECS service ignores desiredCount', () => {
        const probes = run.transformProbes.filter((p) => p.component === TYPES.service);
        expect(probes).to.have.length(1);
        const onService = probes[0]?.results['aws:ecs/service:Service'];
        expect(onService?.ignoreChanges).to.include('desiredCount');
        expect(onService?.props).to.deep.equal({ desiredCount: 2 });
        expect(probes[0]?.results['aws:ecs/taskDefinition:TaskDefinition'], 'other children are left alone').to.equal(
          null,
        );
        expect(one(run, TYPES.service).inputs.desiredCount).to.equal(expected.scaling[0]);
      });

      it(`scales between ${expected.scaling[0]} and ${expected.scaling[1]} tasks, tracking 70% CPU`, () => {
        const target = one(run, TYPES.scalingTarget).inputs;
        expect([target.minCapacity, target.maxCapacity]).to.deep.equal(expected.scaling);
        expect(target).to.deep.include({
          serviceNamespace: 'ecs',
          scalableDimension: 'ecs:service:DesiredCount',
          resourceId: 'service/cluster-cluster/api-service',
        });
        const cpu = one(run, TYPES.scalingPolicy, 'api-cpu').inputs;
        expect(cpu.policyType).to.equal('TargetTrackingScaling');
        expect(cpu.targetTrackingScalingPolicyConfiguration).to.deep.include({ targetValue: 70 });
        const { scaleInCooldown, scaleOutCooldown } = cpu.targetTrackingScalingPolicyConfiguration;
        expect(scaleInCooldown).to.be.greaterThan(scaleOutCooldown);
        expect(
          cpu.targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType,
        ).to.equal('ECSServiceAverageCPUUtilization');
      });

      if (stack === 'production') {
        it('also tracks requests per task on the ALB target group', () => {
          const requests = one(run, TYPES.scalingPolicy, 'api-requests').inputs;
          expect(requests.targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification).to.deep.equal({
            predefinedMetricType: 'ALBRequestCountPerTarget',
            resourceLabel: 'app/api/0123456789abcdef/targetgroup/api/fedcba9876543210',
          });
        });
      }
    });

    describe('permissions', () => {
      it('allows the task role exactly SERVICE_DYNAMODB_ACTIONS, on the tables and their indexes only', () => {
        const policy = policyOf(run, 'task');
        const dynamo = policy.Statement.filter((s) => s.Action.some((a) => a.startsWith('dynamodb:')));
        expect(dynamo).to.have.length(1);
        expect(dynamo[0]?.Action).to.deep.equal([...SERVICE_DYNAMODB_ACTIONS]);
        expect(sorted(dynamo[0]?.Resource ?? [])).to.deep.equal(
          sorted(
            TABLES.flatMap((t) => {
              const arn = arnOfTable(`freeda-${stack}-${t.suffix}`);
              return [arn, `${arn}/index/*`];
            }),
          ),
        );
        const others = policy.Statement.filter((s) => s !== dynamo[0]);
        expect(others.map((s) => [s.Action, s.Resource])).to.deep.equal([
          [['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], [KEY_ARN]],
          [['sns:Publish'], [TOPIC_ARN]],
        ]);
        expect(others[0]?.Condition).to.deep.equal({
          StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-3.amazonaws.com' },
        });
        const trust = JSON.parse(one(run, 'aws:iam/role:Role', 'task').inputs.assumeRolePolicy);
        expect(trust.Statement[0].Principal).to.deep.equal({ Service: 'ecs-tasks.amazonaws.com' });
        expect(trust.Statement[0].Condition.StringEquals).to.deep.equal({ 'aws:SourceAccount': '123456789012' });
        expect(one(run, TYPES.service).inputs.taskDefinitionArgs.taskRole).to.deep.equal({
          roleArn: 'arn:aws:iam:eu-west-3:123456789012:task',
        });
      });

      it('lets only the execution role read the secrets, exactly the ones the container receives', () => {
        const policy = policyOf(run, 'execution-secrets');
        const [read, decrypt, ...rest] = policy.Statement;
        expect(rest).to.have.length(0);
        expect(read?.Action).to.deep.equal(['secretsmanager:GetSecretValue']);
        const injected = container(run).secrets.map((s: { valueFrom: string }) => s.valueFrom);
        expect(sorted(read?.Resource ?? [])).to.deep.equal(sorted(injected));
        expect(sorted(injected)).to.deep.equal(
          sorted(['token-signing-key', 'bootstrap-admin-key', 'mistral-api-key'].map((n) => secretArn(stack, n))),
        );
        expect(decrypt).to.deep.include({ Action: ['kms:Decrypt'], Resource: [KEY_ARN] });
        expect(JSON.stringify(policyOf(run, 'task'))).not.to.include('secretsmanager');
        expect(one(run, TYPES.attachment).inputs.policyArn).to.equal(
          'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy',
        );
      });
    });

    describe('monitoring', () => {
      const alarmNamed = (name: string) => one(run, TYPES.alarm, name).inputs;

      it('alarms on DynamoDB system errors and throttles of every table, summing the operations the service uses', () => {
        for (const definition of TABLES) {
          for (const [suffix, metric] of [
            ['system-errors', 'SystemErrors'],
            ['throttles', 'ThrottledRequests'],
          ]) {
            const alarm = alarmNamed(`${definition.suffix}-${suffix}`);
            const metrics = alarm.metricQueries.filter((q: { metric?: unknown }) => q.metric);
            expect(
              metrics.map((q: { metric: { dimensions: { Operation: string } } }) => q.metric.dimensions.Operation),
            ).to.deep.equal(DATA_OPERATIONS);
            for (const q of metrics) {
              expect(q.metric).to.deep.include({ namespace: 'AWS/DynamoDB', metricName: metric });
              expect(q.metric.dimensions.TableName).to.equal(`freeda-${stack}-${definition.suffix}`);
            }
          }
        }
        expect(DATA_OPERATIONS).not.to.include('DescribeTable');
      });

      it('alarms on ALB and target 5xx, unhealthy hosts and p99 latency', () => {
        expect(alarmNamed('alb-5xx')).to.deep.include({
          namespace: 'AWS/ApplicationELB',
          metricName: 'HTTPCode_ELB_5XX_Count',
        });
        expect(alarmNamed('target-5xx').metricName).to.equal('HTTPCode_Target_5XX_Count');
        expect(alarmNamed('unhealthy-hosts').metricName).to.equal('UnHealthyHostCount');
        expect(alarmNamed('latency-p99')).to.deep.include({
          metricName: 'TargetResponseTime',
          extendedStatistic: 'p99',
          threshold: 5,
        });
      });

      it('turns the service’s churn_alert and webhook_disabled log events into metrics and alarms', () => {
        const filters = ofType(run, TYPES.metricFilter);
        expect(filters.map((f) => f.name).sort()).to.deep.equal(['churn-alerts', 'webhooks-disabled']);
        const logGroup = one(run, TYPES.logGroup).inputs.name;
        for (const [name, event] of [
          ['churn-alerts', LOG_EVENTS.churnAlert],
          ['webhooks-disabled', LOG_EVENTS.webhookDisabled],
        ] as const) {
          const filter = one(run, TYPES.metricFilter, name).inputs;
          expect(filter.pattern, name).to.equal(`{ $.event = "${event}" }`);
          expect(filter.logGroupName, name).to.equal(logGroup);
          expect(filter.metricTransformation, name).to.deep.include({ namespace: `Freeda/${stack}`, value: '1' });
          const alarm = alarmNamed(name);
          expect([alarm.namespace, alarm.metricName], name).to.deep.equal([
            filter.metricTransformation.namespace,
            filter.metricTransformation.name,
          ]);
          // One event is enough, and it goes to the stack's alerts topic.
          expect(alarm, name).to.deep.include({
            statistic: 'Sum',
            threshold: 1,
            comparisonOperator: 'GreaterThanOrEqualToThreshold',
            alarmActions: [TOPIC_ARN],
          });
        }
        const names = filters.map((f) => f.inputs.metricTransformation.name);
        expect(new Set(names).size).to.equal(names.length);
      });

      it(`alarms within 3 minutes when fewer than ${expected.scaling[0]} tasks are healthy, or none reports at all`, () => {
        const alarm = alarmNamed('healthy-hosts');
        expect(alarm).to.deep.include({
          namespace: 'AWS/ApplicationELB',
          metricName: 'HealthyHostCount',
          statistic: 'Minimum',
          period: 60,
          threshold: expected.scaling[0],
          comparisonOperator: 'LessThanThreshold',
          treatMissingData: 'breaching',
        });
        expect(alarm.evaluationPeriods * alarm.period).to.be.at.most(180);
        expect(alarm.dimensions).to.deep.equal({
          LoadBalancer: 'app/api/0123456789abcdef',
          TargetGroup: 'targetgroup/api/fedcba9876543210',
        });
      });

      it('checks readiness from outside, through the public listener, and alarms when it fails', () => {
        const check = one(run, TYPES.healthCheck).inputs;
        expect(check).to.deep.include(
          expected.https
            ? { type: 'HTTPS', port: 443, fqdn: PRODUCTION_OPERATOR_SETTINGS.domainName, enableSni: true }
            : { type: 'HTTP', port: 80, fqdn: 'api-0123456789.eu-west-3.elb.amazonaws.com', enableSni: false },
        );
        expect(check.resourcePath).to.equal(HEALTH_PATHS.ready);
        const alarm = alarmNamed('ready-from-outside');
        expect(alarm).to.deep.include({
          region: 'us-east-1',
          namespace: 'AWS/Route53',
          metricName: 'HealthCheckStatus',
          dimensions: { HealthCheckId: 'ready-from-outside-id' },
          comparisonOperator: 'LessThanThreshold',
          threshold: 1,
          period: 60,
          treatMissingData: 'breaching',
        });
        expect(alarm.alarmActions).to.deep.equal([US_EAST_1_TOPIC_ARN]);
        expect(one(run, TYPES.topic, 'alerts-us-east-1').inputs.region).to.equal('us-east-1');
      });

      it('sends every alarm to the alerts topic (of its region)', () => {
        const alarms = ofType(run, TYPES.alarm);
        expect(alarms.length).to.be.at.least(12);
        for (const alarm of alarms) {
          expect(alarm.inputs.alarmActions, alarm.name).to.deep.equal([
            alarm.inputs.region === 'us-east-1' ? US_EAST_1_TOPIC_ARN : TOPIC_ARN,
          ]);
        }
      });

      if (stack === 'production') {
        it('mails the alerts of both regions to the on-call address', () => {
          const subscriptions = ofType(run, TYPES.subscription).map((s) => s.inputs);
          expect(subscriptions.map((s) => s.topic).sort()).to.deep.equal([TOPIC_ARN, US_EAST_1_TOPIC_ARN].sort());
          for (const subscription of subscriptions) {
            expect(subscription).to.deep.include({
              protocol: 'email',
              endpoint: PRODUCTION_OPERATOR_SETTINGS.alarmEmail,
            });
          }
        });
      } else {
        it('subscribes nobody to the alerts when no e-mail is configured', () => {
          expect(ofType(run, TYPES.subscription)).to.have.length(0);
        });
      }

      it('draws a dashboard of traffic, latency, tasks, tables, churn alerts, disabled webhooks and alarms', () => {
        const body = JSON.parse(one(run, TYPES.dashboard).inputs.dashboardBody);
        const text = JSON.stringify(body);
        for (const needle of [
          'RequestCount',
          'TargetResponseTime',
          'CPUUtilization',
          'ConsumedWriteCapacityUnits',
          'ChurnAlerts',
          'WebhooksDisabled',
        ]) {
          expect(text).to.include(needle);
        }
        const alarmWidget = body.widgets.find((w: { type: string }) => w.type === 'alarm');
        // The dashboard's region's alarms (the outside check's alarm lives in us-east-1).
        const regional = ofType(run, TYPES.alarm).filter((a) => a.inputs.region === undefined);
        expect(alarmWidget.properties.alarms).to.have.length(regional.length);
      });
    });

    describe('image repository', () => {
      it('keeps image tags immutable, except the build cache', () => {
        const repository = one(run, TYPES.repository).inputs;
        expect(repository.imageTagMutability).to.equal('IMMUTABLE_WITH_EXCLUSION');
        expect(repository.imageTagMutabilityExclusionFilters).to.deep.equal([
          { filterType: 'WILDCARD', filter: CACHE_TAG },
        ]);
      });

      it('scans images on push and never expires the images deployments and rollbacks use', () => {
        const repository = one(run, TYPES.repository).inputs;
        expect(repository.imageScanningConfiguration).to.deep.equal({ scanOnPush: true });
        const rules = repository.lifecyclePolicy.rules as { tagStatus: string; maximumNumberOfImages?: number }[];
        const any = rules.filter((r) => r.tagStatus === 'any');
        expect(any).to.have.length(1);
        expect(any[0]?.maximumNumberOfImages).to.be.at.least(10);
        for (const rule of rules.filter((r) => r.tagStatus !== 'any')) expect(rule.tagStatus).to.equal('untagged');
        expect(repository.forceDelete).to.equal(!expected.protect);
      });
    });

    describe('outputs', () => {
      it('exports the URL, table names, repository URL, alerts topic and dashboard URL', () => {
        const o = run.outputs;
        expect(o.url).to.equal(
          expected.https
            ? `https://${PRODUCTION_OPERATOR_SETTINGS.domainName}`
            : 'http://api-0123456789.eu-west-3.elb.amazonaws.com',
        );
        expect(o.ticketsTable).to.equal(`freeda-${stack}-tickets`);
        expect(o.principalsTable).to.equal(`freeda-${stack}-principals`);
        expect(o.repositoryUrl).to.match(/\.dkr\.ecr\.eu-west-3\.amazonaws\.com\//);
        expect(o.alertsTopicArn).to.equal(TOPIC_ARN);
        expect(o.dashboardUrl).to.equal(
          `https://eu-west-3.console.aws.amazon.com/cloudwatch/home?region=eu-west-3#dashboards/dashboard/freeda-${stack}`,
        );
        expect(o.bootstrapAdminKeySecretArn).to.equal(secretArn(stack, 'bootstrap-admin-key'));
        expect(o).to.include.keys('clusterName', 'serviceName');
        expect(o.loadBalancerDnsName).to.equal('api-0123456789.eu-west-3.elb.amazonaws.com');
        expect(o.publicAccess).to.equal(expected.access);
        expect(o.dataKeyArn).to.equal(KEY_ARN);
        expect(o.outsideHealthCheckId).to.equal('ready-from-outside-id');
      });

      it('exports the task definition this update registered, not the one the service reports after a rollback', () => {
        // The mocked service reports revision 7 (as after a circuit-breaker rollback); the update registered 8.
        expect(run.outputs.taskDefinitionArn).to.equal(
          `arn:aws:ecs:eu-west-3:123456789012:task-definition/freeda-${stack}-api:8`,
        );
      });

      if (stack === 'production') {
        it('points the domain at the ALB with an alias record in the configured zone', () => {
          const record = one(run, TYPES.record).inputs;
          expect(record).to.deep.include({
            zoneId: PRODUCTION_OPERATOR_SETTINGS.hostedZoneId,
            name: PRODUCTION_OPERATOR_SETTINGS.domainName,
            type: 'A',
          });
          expect(record.aliases).to.deep.equal([
            {
              name: 'api-0123456789.eu-west-3.elb.amazonaws.com',
              zoneId: 'Z3Q77PNBQS71R4',
              evaluateTargetHealth: true,
            },
          ]);
          expect(run.outputs.dnsRecordManaged).to.equal(true);
        });
      } else {
        it('creates no DNS record without a hosted zone (CI then checks the ALB by name)', () => {
          expect(ofType(run, TYPES.record)).to.have.length(0);
          expect(run.outputs.dnsRecordManaged).to.equal(false);
        });
      }
    });
  });
}
