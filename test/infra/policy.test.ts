/**
 * The policy pack's rules as plain functions (no engine), the pack's wiring of them, and the pack loading
 * the way Pulumi's policy runner loads it. Fixtures mirror what the engine shows: awsx's default security
 * groups, the children awsx creates from this program's inputs, IAM documents built by infra/iam.ts.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import { expect } from 'chai';
import { SERVICE_DYNAMODB_ACTIONS } from '../../api/db/permissions.js';
import { executionRolePolicy, taskRolePolicy } from '../../infra/iam.js';
import { policies } from '../../infra/policy/policies.js';
import {
  checkCircuitBreaker,
  checkDesiredCountIgnored,
  checkIamWildcards,
  checkImmutableTags,
  checkLogRetention,
  checkPlainHttpToInternet,
  checkPolicyDocument,
  checkProductionTable,
  checkSecretsRollServices,
  checkTaskDefinitionKept,
  checkWorldIngressOwners,
  checkWorldIngressPorts,
  type Props,
  type ResourceView,
  type StackResourceView,
  stackOf,
  TYPES,
} from '../../infra/policy/rules.js';
import { REPO_ROOT } from './support/stack-config.js';
import { runCommittedStack, runStack, STACKS, type StackRun } from './support/stack-run.js';

const urn = (type: string, name: string, stack = 'production') => `urn:pulumi:${stack}::freeda::${type}::${name}`;
const resource = (type: string, name: string, props: Props, opts: ResourceView['opts'] = {}): StackResourceView => ({
  type,
  urn: urn(type, name),
  props,
  opts,
  propertyDependencies: {},
});

/** What awsx creates when given no security group (ALB and FargateService defaults). */
const awsxDefaultGroup = resource(TYPES.securityGroup, 'api-sg', {
  ingress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], ipv6CidrBlocks: ['::/0'] }],
});
const httpFromAnywhere = (name: string, port: number, group: StackResourceView) => ({
  ...resource(TYPES.ingressRule, name, {
    ipProtocol: 'tcp',
    fromPort: port,
    toPort: port,
    cidrIpv4: '0.0.0.0/0',
    securityGroupId: 'sg-alb',
  }),
  propertyDependencies: { securityGroupId: [group.urn] },
});

describe('policy rules', () => {
  describe('internet ingress ports', () => {
    it('refuses the all-traffic groups awsx creates by default, on IPv4 and IPv6', () => {
      const messages = checkWorldIngressPorts(awsxDefaultGroup);
      expect(messages).to.have.length(2);
      expect(messages[0]).to.match(/0\.0\.0\.0\/0 may reach every port/);
      expect(messages[1]).to.match(/::\/0 may reach every port/);
    });

    it('refuses SSH, the container port or a port range open to the internet, in every rule form', () => {
      const cases: ResourceView[] = [
        resource(TYPES.ingressRule, 'ssh', { ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' }),
        resource(TYPES.securityGroupRule, 'app', {
          type: 'ingress',
          protocol: 'tcp',
          fromPort: 3000,
          toPort: 3000,
          cidrBlocks: ['10.0.0.0/8', '0.0.0.0/0'],
        }),
        resource(TYPES.securityGroup, 'range', {
          ingress: [{ protocol: '6', fromPort: 80, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }],
        }),
        resource(TYPES.ingressRule, 'udp', { ipProtocol: 'udp', fromPort: 443, toPort: 443, cidrIpv6: '::/0' }),
      ];
      for (const c of cases) expect(checkWorldIngressPorts(c), c.urn).to.have.length(1);
    });

    it('accepts HTTP and HTTPS from the internet, private sources and egress rules', () => {
      const cases: ResourceView[] = [
        resource(TYPES.ingressRule, 'http', { ipProtocol: 'tcp', fromPort: 80, toPort: 80, cidrIpv4: '0.0.0.0/0' }),
        resource(TYPES.securityGroup, 'https', {
          ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }],
        }),
        resource(TYPES.ingressRule, 'vpc', { ipProtocol: '-1', cidrIpv4: '10.0.0.0/16' }),
        resource(TYPES.securityGroupRule, 'out', {
          type: 'egress',
          protocol: '-1',
          fromPort: 0,
          toPort: 0,
          cidrBlocks: ['0.0.0.0/0'],
        }),
      ];
      for (const c of cases) expect(checkWorldIngressPorts(c), c.urn).to.deep.equal([]);
    });
  });

  describe('owners of internet-facing groups', () => {
    const albGroup = resource(TYPES.securityGroup, 'alb', { id: 'sg-alb' });
    const taskGroup = resource(TYPES.securityGroup, 'tasks', { id: 'sg-tasks' });
    const loadBalancer = {
      ...resource(TYPES.loadBalancer, 'api', { securityGroups: ['sg-alb'] }),
      propertyDependencies: { securityGroups: [albGroup.urn] },
    };
    const service = resource(TYPES.ecsService, 'api', { networkConfiguration: { securityGroups: ['sg-tasks'] } });

    it('accepts HTTP(S) from the internet on the load balancer’s group, found by ID or by dependency', () => {
      const byDependency = { ...loadBalancer, props: { securityGroups: [] } };
      for (const lb of [loadBalancer, byDependency]) {
        const stack = [albGroup, taskGroup, lb, service, httpFromAnywhere('alb-in-80', 80, albGroup)];
        expect(checkWorldIngressOwners(stack)).to.deep.equal([]);
      }
    });

    it('refuses an internet-facing group attached to an ECS service', () => {
      const openTasks = {
        ...resource(TYPES.ingressRule, 'tasks-in', {
          ipProtocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          cidrIpv4: '0.0.0.0/0',
          securityGroupId: 'sg-tasks',
        }),
        propertyDependencies: { securityGroupId: [taskGroup.urn] },
      };
      const violations = checkWorldIngressOwners([albGroup, taskGroup, loadBalancer, service, openTasks]);
      expect(violations).to.have.length(1);
      expect(violations[0]?.urn).to.equal(openTasks.urn);
      expect(violations[0]?.message).to.match(/attached to the ECS service/);
    });

    it('refuses an internet-facing group no load balancer uses', () => {
      const stray = resource(TYPES.securityGroup, 'stray', {
        id: 'sg-stray',
        ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }],
      });
      expect(checkWorldIngressOwners([albGroup, loadBalancer, stray]).map((v) => v.urn)).to.deep.equal([stray.urn]);
    });

    it('does not judge a rule whose group cannot be identified yet', () => {
      const unknownGroup = resource(TYPES.ingressRule, 'later', {
        ipProtocol: 'tcp',
        fromPort: 80,
        toPort: 80,
        cidrIpv4: '0.0.0.0/0',
      });
      expect(checkWorldIngressOwners([loadBalancer, unknownGroup])).to.deep.equal([]);
    });
  });

  describe('plain HTTP to the internet', () => {
    const albGroup = resource(TYPES.securityGroup, 'alb', { id: 'sg-alb' });
    const loadBalancer = resource(TYPES.loadBalancer, 'api', { securityGroups: ['sg-alb'] });
    const listener = (name: string, props: Props, stack = 'staging') => ({
      ...resource(TYPES.listener, name, props),
      urn: urn(TYPES.listener, name, stack),
      propertyDependencies: { loadBalancerArn: [loadBalancer.urn] },
    });
    const restricted = {
      ...resource(TYPES.ingressRule, 'alb-in-80-office', {
        ipProtocol: 'tcp',
        fromPort: 80,
        toPort: 80,
        cidrIpv4: '203.0.113.0/24',
        securityGroupId: 'sg-alb',
      }),
      propertyDependencies: { securityGroupId: [albGroup.urn] },
    };
    const forward = [{ type: 'forward', targetGroupArn: 'arn:tg' }];
    const redirect = [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }];

    it('flags an HTTP listener that forwards to the tasks when the internet reaches its port', () => {
      const http = listener('api-0', { port: 80, protocol: 'HTTP', defaultActions: forward });
      const stack = [albGroup, loadBalancer, http, httpFromAnywhere('alb-in-80', 80, albGroup)];
      expect(checkPlainHttpToInternet(stack, {}).map((v) => v.urn)).to.deep.equal([http.urn]);
      expect(checkPlainHttpToInternet(stack, {})[0]?.message).to.match(/plain HTTP to the whole internet/);
    });

    it('accepts HTTP that only redirects to HTTPS, HTTPS, and HTTP restricted to known networks', () => {
      const redirecting = listener('api-1', { port: 80, protocol: 'HTTP', defaultActions: redirect });
      const https = listener('api-0', { port: 443, protocol: 'HTTPS', defaultActions: forward });
      const world = [httpFromAnywhere('alb-in-80', 80, albGroup), httpFromAnywhere('alb-in-443', 443, albGroup)];
      expect(checkPlainHttpToInternet([albGroup, loadBalancer, redirecting, https, ...world], {})).to.deep.equal([]);
      const http = listener('api-0', { port: 80, protocol: 'HTTP', defaultActions: forward });
      expect(checkPlainHttpToInternet([albGroup, loadBalancer, http, restricted], {})).to.deep.equal([]);
    });

    it('splits by stack: refused on production stacks, flagged elsewhere', () => {
      const stackWith = (stack: string) => [
        albGroup,
        loadBalancer,
        listener('api-0', { port: 80, protocol: 'HTTP', defaultActions: forward }, stack),
        httpFromAnywhere('alb-in-80', 80, albGroup),
      ];
      expect(checkPlainHttpToInternet(stackWith('production'), { only: ['production'] })).to.have.length(1);
      expect(checkPlainHttpToInternet(stackWith('staging'), { only: ['production'] })).to.deep.equal([]);
      expect(checkPlainHttpToInternet(stackWith('staging'), { except: ['production'] })).to.have.length(1);
      expect(checkPlainHttpToInternet(stackWith('production'), { except: ['production'] })).to.deep.equal([]);
    });
  });

  describe('releases', () => {
    it('refuses a task definition Pulumi would deregister, or whose family changes with every image', () => {
      const task = (props: Props) => checkTaskDefinitionKept(resource(TYPES.taskDefinition, 'api', props));
      expect(task({ family: 'freeda-production-api', skipDestroy: true })).to.deep.equal([]);
      expect(task({ family: 'freeda-production-api' })).to.have.length(1);
      expect(task({ family: 'api-3f2a9c1d', skipDestroy: true })[0]).to.match(/content hash/);
    });

    it('refuses mutable image tags', () => {
      const repo = (props: Props) => checkImmutableTags(resource(TYPES.ecrRepository, 'api', props));
      expect(repo({ imageTagMutability: 'IMMUTABLE' })).to.deep.equal([]);
      expect(repo({ imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' })).to.deep.equal([]);
      expect(repo({ imageTagMutability: 'MUTABLE' })).to.have.length(1);
      expect(repo({})).to.have.length(1);
    });

    it('refuses an ECS service that would not redeploy when a secret version changes', () => {
      const versions = ['token-signing-key', 'bootstrap-admin-key'].map((n) => resource(TYPES.secretVersion, n, {}));
      const service = (props: Props, triggers: string[]) => ({
        ...resource(TYPES.ecsService, 'api', props),
        propertyDependencies: { triggers },
      });
      const all = versions.map((v) => v.urn);
      expect(checkSecretsRollServices([...versions, service({ forceNewDeployment: true }, all)])).to.deep.equal([]);
      expect(checkSecretsRollServices([...versions, service({}, all)])).to.have.length(1);
      const partial = checkSecretsRollServices([...versions, service({ forceNewDeployment: true }, [all[0] ?? ''])]);
      expect(partial.map((v) => v.message)).to.deep.equal([
        `ECS service triggers do not follow ${versions[1]?.urn}: a new value of that secret would not reach the tasks`,
      ]);
      expect(checkSecretsRollServices([service({}, [])]), 'no secrets, nothing to follow').to.deep.equal([]);
    });
  });

  describe('logs, services and tables', () => {
    it('refuses a log group that keeps its events forever (the awsx default)', () => {
      expect(checkLogRetention(resource(TYPES.logGroup, 'default', {}))).to.have.length(1);
      expect(checkLogRetention(resource(TYPES.logGroup, 'zero', { retentionInDays: 0 }))).to.have.length(1);
      expect(checkLogRetention(resource(TYPES.logGroup, 'api', { retentionInDays: 14 }))).to.deep.equal([]);
    });

    it('refuses an ECS service without a rolling-back circuit breaker', () => {
      const service = (props: Props) => checkCircuitBreaker(resource(TYPES.ecsService, 'api', props));
      expect(service({})).to.have.length(1);
      expect(service({ deploymentCircuitBreaker: { enable: true, rollback: false } })).to.have.length(1);
      expect(service({ deploymentCircuitBreaker: { enable: true, rollback: true } })).to.deep.equal([]);
    });

    it('refuses an autoscaled ECS service that does not ignore desiredCount', () => {
      const target = resource(TYPES.scalingTarget, 'api', { scalableDimension: 'ecs:service:DesiredCount' });
      const plain = resource(TYPES.ecsService, 'api', {}, { ignoreChanges: [] });
      const ignoring = resource(TYPES.ecsService, 'api', {}, { ignoreChanges: ['desiredCount'] });
      expect(checkDesiredCountIgnored([target, plain]).map((v) => v.urn)).to.deep.equal([plain.urn]);
      expect(checkDesiredCountIgnored([target, ignoring])).to.deep.equal([]);
      expect(checkDesiredCountIgnored([plain]), 'no autoscaling, nothing to fight').to.deep.equal([]);
    });

    it('requires deletion protection, point-in-time recovery and protect on production tables only', () => {
      const table = (stack: string, props: Props, protect: boolean): ResourceView => ({
        type: TYPES.table,
        urn: urn(TYPES.table, 'tickets', stack),
        props,
        opts: { protect },
      });
      const safe = { deletionProtectionEnabled: true, pointInTimeRecovery: { enabled: true } };
      expect(checkProductionTable(table('production', safe, true), ['production'])).to.deep.equal([]);
      expect(checkProductionTable(table('production', {}, false), ['production'])).to.deep.equal([
        'production table: deletionProtectionEnabled must be true',
        'production table: pointInTimeRecovery must be enabled',
        'production table: the resource must be `protect`ed in Pulumi',
      ]);
      expect(checkProductionTable(table('staging', {}, false), ['production'])).to.deep.equal([]);
      expect(checkProductionTable(table('prod-eu', {}, true), ['production', 'prod-eu'])).to.have.length(2);
      expect(stackOf(urn(TYPES.table, 'x', 'production'))).to.equal('production');
    });
  });

  describe('IAM', () => {
    it('accepts the task and execution role policies this program builds', () => {
      const arns = { kmsKeyArn: 'arn:aws:kms:eu-west-3:1:key/k', region: 'eu-west-3' };
      const task = taskRolePolicy({
        ...arns,
        tableArns: ['arn:aws:dynamodb:eu-west-3:1:table/t'],
        alertsTopicArn: 'arn:aws:sns:eu-west-3:1:a',
      });
      expect(task.Statement[0]?.Action).to.deep.equal([...SERVICE_DYNAMODB_ACTIONS]);
      expect(checkPolicyDocument(JSON.stringify(task))).to.deep.equal([]);
      expect(
        checkPolicyDocument(executionRolePolicy({ ...arns, secretArns: ['arn:aws:secretsmanager:x'] })),
      ).to.deep.equal([]);
    });

    it('refuses wildcard actions, the * resource and Not* in Allow statements, in every policy form', () => {
      const doc = (statement: Props) => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
      const allow = { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: ['arn:aws:dynamodb:x:1:table/t'] };
      const bad = [
        { ...allow, Action: '*' },
        { ...allow, Action: ['dynamodb:*'] },
        { ...allow, Action: ['dynamodb:Get*'] },
        { ...allow, Resource: '*' },
        { Effect: 'Allow', NotAction: ['iam:*'], Resource: ['arn:aws:s3:::b'] },
        { Effect: 'Allow', Action: ['s3:GetObject'], NotResource: ['arn:aws:s3:::b/*'] },
      ];
      for (const statement of bad) {
        expect(
          checkIamWildcards(resource(TYPES.rolePolicy, 'p', { policy: doc(statement) })),
          JSON.stringify(statement),
        ).to.not.be.empty;
      }
      expect(checkIamWildcards(resource(TYPES.policy, 'p', { policy: { Statement: { ...allow, Action: '*' } } }))).to
        .not.be.empty;
      expect(
        checkIamWildcards(
          resource(TYPES.role, 'r', { inlinePolicies: [{ name: 'x', policy: doc({ ...allow, Resource: '*' }) }] }),
        ),
      ).to.deep.equal(['resource *']);
      expect(checkIamWildcards(resource(TYPES.rolePolicy, 'p', { policy: doc(allow) }))).to.deep.equal([]);
      expect(
        checkIamWildcards(
          resource(TYPES.rolePolicy, 'deny', { policy: doc({ Effect: 'Deny', Action: '*', Resource: '*' }) }),
        ),
        'a Deny may be broad',
      ).to.deep.equal([]);
    });
  });
});

/**
 * Loads the pack's policies as @pulumi/pulumi/cmd/run-policy-pack loads a pack: its bundled ts-node
 * registered with type checking and the pack's tsconfig, then a CommonJS require (not index.ts, which
 * starts the policy server). Prints the policy names as JSON. Run with the pack directory as cwd.
 */
const LOAD_POLICY_PACK = `
const path = require('node:path');
const packDir = process.argv[1];
const pulumiDir = path.dirname(require.resolve('@pulumi/pulumi/package.json', { paths: [packDir] }));
const tsutils = require(path.join(pulumiDir, 'tsutils'));
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
require(tsnodeRequire).register({
  typeCheck: true,
  skipProject: false,
  compiler: typescriptRequire,
  compilerOptions: {
    target: 'ES2020',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    sourceMap: 'true',
    ...tsutils.loadTypeScriptCompilerOptions('tsconfig.json'),
  },
});
const { policies } = require(path.join(packDir, 'policies'));
process.stdout.write(JSON.stringify(policies.map((p) => p.name)));
`;

/** Runs a pack policy the way the engine does, collecting what it reports. */
function validate(policy: ResourceValidationPolicy, r: ResourceView, config: object = {}): string[] {
  const reports: string[] = [];
  const validation = policy.validateResource;
  const fns = Array.isArray(validation) ? validation : validation ? [validation] : [];
  const args = {
    type: r.type,
    urn: r.urn,
    name: r.urn.split('::').pop() ?? '',
    props: r.props,
    opts: { protect: r.opts?.protect ?? false, ignoreChanges: r.opts?.ignoreChanges ?? [] },
    getConfig: () => config,
  } as unknown as ResourceValidationArgs;
  for (const fn of fns) fn(args, (message) => reports.push(message));
  return reports;
}

const named = (name: string) => {
  const policy = policies.find((p) => p.name === name);
  if (!policy) throw new Error(`no policy ${name}`);
  return policy;
};

/** Runs a stack policy the way the engine does (property dependencies as resources), collecting reports. */
function validateStack(policy: StackValidationPolicy, views: StackResourceView[], config: object = {}): string[] {
  const reports: string[] = [];
  const args = {
    resources: views.map((v) => ({
      ...v,
      name: v.urn.split('::').pop() ?? '',
      opts: { protect: v.opts?.protect ?? false, ignoreChanges: v.opts?.ignoreChanges ?? [] },
      propertyDependencies: Object.fromEntries(
        Object.entries(v.propertyDependencies).map(([property, urns]) => [property, urns.map((u) => ({ urn: u }))]),
      ),
    })),
    getConfig: () => config,
  } as unknown as Parameters<StackValidationPolicy['validateStack']>[0];
  policy.validateStack(args, (message, u) => reports.push(`${u ?? ''}: ${message}`));
  return reports;
}

describe('policy pack', () => {
  it('enforces every rule as mandatory, except flagging plain HTTP outside production', () => {
    expect(policies.map((p) => p.name)).to.have.members([
      'internet-ingress-only-http-https',
      'internet-ingress-only-on-load-balancers',
      'log-groups-have-retention',
      'ecs-services-roll-back-failed-deployments',
      'ecs-services-leave-task-count-to-autoscaling',
      'production-tables-protected',
      'production-no-plain-http-to-internet',
      'plain-http-to-internet',
      'task-definitions-kept-for-rollback',
      'ecr-tags-immutable',
      'ecs-services-roll-on-secret-change',
      'iam-no-wildcards',
    ]);
    for (const p of policies) {
      expect(p.enforcementLevel, p.name).to.equal(p.name === 'plain-http-to-internet' ? 'advisory' : 'mandatory');
    }
  });

  it('reports a violation through the engine’s callback, and reads the production stacks from its config', () => {
    const ingress = named('internet-ingress-only-http-https') as ResourceValidationPolicy;
    expect(validate(ingress, awsxDefaultGroup)).to.have.length(2);
    const tables = named('production-tables-protected') as ResourceValidationPolicy;
    const table: ResourceView = { type: TYPES.table, urn: urn(TYPES.table, 't', 'live'), props: {}, opts: {} };
    expect(validate(tables, table)).to.deep.equal([]);
    expect(validate(tables, table, { productionStacks: ['live'] })).to.have.length(3);
  });

  it('passes the stack validations the URNs behind each property', () => {
    const owners = named('internet-ingress-only-on-load-balancers') as StackValidationPolicy;
    const sg = { type: TYPES.securityGroup, urn: urn(TYPES.securityGroup, 'alb'), props: {} };
    const engineResource = (type: string, name: string, props: Props, deps: Record<string, (typeof sg)[]>) => ({
      type,
      urn: urn(type, name),
      name,
      props,
      opts: { protect: false, ignoreChanges: [] },
      dependencies: [],
      propertyDependencies: deps,
      isType: () => false,
      asType: () => undefined,
    });
    const resources = [
      engineResource(sg.type, 'alb', {}, {}),
      engineResource(TYPES.loadBalancer, 'api', { securityGroups: [] }, { securityGroups: [sg] }),
      engineResource(
        TYPES.ingressRule,
        'alb-in-80',
        { ipProtocol: 'tcp', fromPort: 80, toPort: 80, cidrIpv4: '0.0.0.0/0' },
        { securityGroupId: [sg] },
      ),
    ];
    const reports: string[] = [];
    const args = { resources, getConfig: () => ({}) } as unknown as Parameters<
      StackValidationPolicy['validateStack']
    >[0];
    owners.validateStack(args, (message) => reports.push(message));
    expect(reports).to.deep.equal([]);
    resources.splice(1, 1);
    owners.validateStack(args, (message) => reports.push(message));
    expect(reports).to.have.length(1);
  });

  it('loads the way Pulumi’s policy runner loads it: CommonJS through its bundled ts-node, type-checked', async function () {
    this.timeout(60_000);
    const packDir = join(REPO_ROOT, 'infra/policy');
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', LOAD_POLICY_PACK, packDir], {
      cwd: packDir,
      // Nothing preloaded: the runner has no TypeScript loader of its own besides ts-node.
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(stdout)).to.have.members(policies.map((p) => p.name));
  });
});

/**
 * The program's resources as the engine would show them: plain resources from their inputs and options,
 * and the children awsx derives from the component inputs (load balancer, ECS service).
 */
function engineView(run: StackRun): StackResourceView[] {
  const child = (type: string, name: string, props: Props, more: Partial<StackResourceView> = {}) => ({
    ...resource(type, name, props),
    urn: urn(type, name, run.stack),
    ...more,
  });
  const views: StackResourceView[] = run.resources
    .filter((r) => r.custom)
    .map((r) => ({
      type: r.type,
      urn: urn(r.type, r.name, run.stack),
      props: { ...r.inputs, ...(r.type === TYPES.securityGroup ? { id: `${r.name}-id` } : {}) },
      opts: { protect: r.options.protect, ignoreChanges: r.options.ignoreChanges },
      propertyDependencies: r.options.propertyDependencies,
    }));
  for (const component of run.resources.filter((r) => !r.custom)) {
    const { inputs } = component;
    if (component.type === 'awsx:lb:ApplicationLoadBalancer') {
      const lb = child(TYPES.loadBalancer, component.name, { securityGroups: inputs.securityGroups });
      views.push(lb);
      // awsx: one listener per entry, forwarding to the default target group unless actions are given.
      const listeners = (inputs.listeners ?? [inputs.listener ?? {}]) as Props[];
      for (const [i, l] of listeners.entries()) {
        views.push(
          child(
            TYPES.listener,
            `${component.name}-${i}`,
            { ...l, defaultActions: l.defaultActions ?? [{ type: 'forward' }] },
            { propertyDependencies: { loadBalancerArn: [lb.urn] } },
          ),
        );
      }
    }
    if (component.type === 'awsx:ecr:Repository') {
      views.push(child(TYPES.ecrRepository, component.name.toLowerCase(), inputs));
    }
    if (component.type === 'awsx:ecs:FargateService') {
      const probe = run.transformProbes.find((p) => p.component === component.type && p.name === component.name);
      const { container: _container, ...taskArgs } = inputs.taskDefinitionArgs;
      views.push(child(TYPES.taskDefinition, component.name, taskArgs));
      views.push(
        child(
          TYPES.ecsService,
          component.name,
          {
            deploymentCircuitBreaker: inputs.deploymentCircuitBreaker,
            networkConfiguration: inputs.networkConfiguration,
            forceNewDeployment: inputs.forceNewDeployment,
            triggers: inputs.triggers,
          },
          {
            opts: { ignoreChanges: probe?.results['aws:ecs/service:Service']?.ignoreChanges ?? [] },
            // The dependencies the program gave the component's inputs reach its children.
            propertyDependencies: { triggers: component.options.propertyDependencies.triggers ?? [] },
          },
        ),
      );
    }
  }
  return views;
}

for (const stack of STACKS) {
  describe(`policy pack on the ${stack} stack`, function () {
    this.timeout(120_000);
    let views: StackResourceView[];
    before(async () => {
      views = engineView(await runCommittedStack(stack));
    });

    it('finds no violation in the program’s resources and the awsx children they configure', () => {
      const violations: string[] = [];
      for (const policy of policies) {
        if ('validateStack' in policy) {
          for (const report of validateStack(policy, views)) violations.push(`${policy.name} ${report}`);
        } else {
          for (const view of views) {
            for (const message of validate(policy, view)) violations.push(`${policy.name} ${view.urn}: ${message}`);
          }
        }
      }
      expect(violations).to.deep.equal([]);
      for (const type of [TYPES.ecsService, TYPES.listener, TYPES.taskDefinition, TYPES.ecrRepository]) {
        expect(
          views.some((v) => v.type === type),
          type,
        ).to.equal(true);
      }
    });

    it('sees the service follow every secret version through its triggers’ dependencies', () => {
      const service = views.find((v) => v.type === TYPES.ecsService);
      const versions = views.filter((v) => v.type === TYPES.secretVersion).map((v) => v.urn);
      expect(versions).to.have.length.greaterThan(1);
      expect(service?.propertyDependencies.triggers).to.have.members(versions);
    });
  });
}

describe('policy pack on a staging stack with allowPlainHttp', function () {
  this.timeout(120_000);
  it('flags the plain-HTTP listener open to the internet, as advisory; the same on production is refused', async () => {
    const views = engineView(await runStack('staging', { allowPlainHttp: 'true' }));
    const flagged = validateStack(named('plain-http-to-internet') as StackValidationPolicy, views);
    expect(flagged).to.have.length(1);
    expect(flagged[0]).to.match(/aws:lb\/listener:Listener::api-0: listener on port 80 serves plain HTTP/);
    const refusing = named('production-no-plain-http-to-internet') as StackValidationPolicy;
    expect(validateStack(refusing, views)).to.deep.equal([]);
    expect(validateStack(refusing, views, { productionStacks: ['staging'] })).to.have.length(1);
  });
});
