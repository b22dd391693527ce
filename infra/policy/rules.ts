/**
 * The stack's guard rails as pure functions over what the Pulumi engine shows a policy pack: a resource's
 * type, URN, properties, options and property dependencies. They run on every resource, including the
 * children the awsx components create inside the provider (security groups, services, log groups), which
 * the program's unit tests cannot see. Each function returns the violations it found, as messages.
 *
 * Values unknown during a preview are read through the policy SDK's proxy, which aborts the rule for that
 * resource with an advisory note instead of a false violation; these functions therefore read the
 * properties they judge directly and never swallow errors.
 */

// biome-ignore lint/suspicious/noExplicitAny: engine properties are free-form JSON
export type Props = Record<string, any>;

export interface ResourceView {
  type: string;
  urn: string;
  props: Props;
  /** Resource options as the engine received them (after transforms). */
  opts?: { protect?: boolean; ignoreChanges?: string[] };
}

export interface StackResourceView extends ResourceView {
  /** Property name -> URNs of the resources the property's value came from. */
  propertyDependencies: Record<string, string[]>;
}

export const TYPES = {
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  securityGroupRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  ingressRule: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  loadBalancer: 'aws:lb/loadBalancer:LoadBalancer',
  listener: 'aws:lb/listener:Listener',
  ecsService: 'aws:ecs/service:Service',
  taskDefinition: 'aws:ecs/taskDefinition:TaskDefinition',
  ecrRepository: 'aws:ecr/repository:Repository',
  secretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
  table: 'aws:dynamodb/table:Table',
  scalingTarget: 'aws:appautoscaling/target:Target',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  policy: 'aws:iam/policy:Policy',
  userPolicy: 'aws:iam/userPolicy:UserPolicy',
  groupPolicy: 'aws:iam/groupPolicy:GroupPolicy',
} as const;

/** Ports the internet may reach, and only on a load balancer's security group. */
export const PUBLIC_PORTS = [80, 443];
const WORLD = new Set(['0.0.0.0/0', '::/0']);

// ---------------------------------------------------------------------------------------------------------
// Security groups

export interface WorldIngress {
  protocol: string;
  fromPort: number;
  toPort: number;
  source: string;
}

const protocolName = (p: unknown) => {
  const s = String(p).toLowerCase();
  return s === '6' ? 'tcp' : s === '17' ? 'udp' : s === '-1' ? 'all' : s;
};

function worldSources(...lists: unknown[]): string[] {
  return lists
    .flatMap((l) => (Array.isArray(l) ? l : l === undefined || l === null ? [] : [l]))
    .filter((c) => WORLD.has(String(c)));
}

/** Every ingress rule of the resource that is open to the whole internet (IPv4 or IPv6). */
export function worldIngress(resource: ResourceView): WorldIngress[] {
  const { props } = resource;
  const rule = (protocol: unknown, fromPort: unknown, toPort: unknown, sources: string[]) =>
    sources.map((source) => ({
      protocol: protocolName(protocol),
      fromPort: Number(fromPort ?? 0),
      toPort: Number(toPort ?? 0),
      source,
    }));
  switch (resource.type) {
    case TYPES.securityGroup:
      return ((props.ingress as Props[] | undefined) ?? []).flatMap((i) =>
        rule(i.protocol, i.fromPort, i.toPort, worldSources(i.cidrBlocks, i.ipv6CidrBlocks)),
      );
    case TYPES.securityGroupRule:
      return props.type === 'ingress'
        ? rule(props.protocol, props.fromPort, props.toPort, worldSources(props.cidrBlocks, props.ipv6CidrBlocks))
        : [];
    case TYPES.ingressRule:
      return rule(props.ipProtocol, props.fromPort, props.toPort, worldSources(props.cidrIpv4, props.cidrIpv6));
    default:
      return [];
  }
}

const isPublicWebPort = (r: WorldIngress) =>
  r.protocol === 'tcp' && r.fromPort === r.toPort && PUBLIC_PORTS.includes(r.fromPort);

/** Internet-open ingress is only ever TCP 80 or 443 (catches awsx's default all-traffic groups). */
export function checkWorldIngressPorts(resource: ResourceView): string[] {
  return worldIngress(resource)
    .filter((r) => !isPublicWebPort(r))
    .map(
      (r) =>
        `${r.source} may reach ${r.protocol === 'all' ? 'every port' : `${r.protocol} ${r.fromPort}-${r.toPort}`}; ` +
        `only TCP ${PUBLIC_PORTS.join(' and ')} may be open to the internet, and only on a load balancer`,
    );
}

/** The security group an ingress-bearing resource belongs to: its URN and, once known, its ID. */
function owningGroup(
  resource: StackResourceView,
  byUrn: Map<string, StackResourceView>,
): { urn?: string; id?: string } | undefined {
  if (resource.type === TYPES.securityGroup) return { urn: resource.urn, id: resource.props.id };
  const fromDeps = (resource.propertyDependencies.securityGroupId ?? []).find(
    (u) => byUrn.get(u)?.type === TYPES.securityGroup,
  );
  const id = resource.props.securityGroupId as string | undefined;
  if (!fromDeps && !id) return undefined;
  return { urn: fromDeps, id: id ?? (fromDeps ? byUrn.get(fromDeps)?.props.id : undefined) };
}

function referencesGroup(
  resource: StackResourceView,
  property: string,
  values: unknown,
  group: { urn?: string; id?: string },
) {
  const ids = Array.isArray(values) ? values.map(String) : [];
  return (
    (group.id !== undefined && ids.includes(group.id)) ||
    (group.urn !== undefined && (resource.propertyDependencies[property] ?? []).includes(group.urn))
  );
}

/**
 * A security group open to the internet belongs to a load balancer, and never to an ECS service: tasks
 * are reached through the ALB only.
 */
export function checkWorldIngressOwners(resources: StackResourceView[]): { urn: string; message: string }[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const loadBalancers = resources.filter((r) => r.type === TYPES.loadBalancer);
  const services = resources.filter((r) => r.type === TYPES.ecsService);
  const violations: { urn: string; message: string }[] = [];
  for (const resource of resources) {
    if (worldIngress(resource).length === 0) continue;
    const group = owningGroup(resource, byUrn);
    if (!group) continue;
    const onService = services.find((s) =>
      referencesGroup(s, 'networkConfiguration', s.props.networkConfiguration?.securityGroups, group),
    );
    if (onService) {
      violations.push({
        urn: resource.urn,
        message: `security group open to the internet is attached to the ECS service ${onService.urn}`,
      });
      continue;
    }
    if (!loadBalancers.some((lb) => referencesGroup(lb, 'securityGroups', lb.props.securityGroups, group))) {
      violations.push({ urn: resource.urn, message: 'security group open to the internet is not a load balancer’s' });
    }
  }
  return violations;
}

/** Load balancers a resource's property points at (by dependency, or by ARN once known). */
function loadBalancerOf(listener: StackResourceView, loadBalancers: StackResourceView[]) {
  const deps = listener.propertyDependencies.loadBalancerArn ?? [];
  return loadBalancers.find(
    (lb) => deps.includes(lb.urn) || (lb.props.arn !== undefined && listener.props.loadBalancerArn === lb.props.arn),
  );
}

/** Whether a listener answers plain HTTP itself (anything but a redirect of every request to HTTPS). */
function servesPlainHttp(listener: StackResourceView): boolean {
  if (String(listener.props.protocol ?? '').toUpperCase() !== 'HTTP') return false;
  const actions = (listener.props.defaultActions as Props[] | undefined) ?? [];
  const redirectsToHttps = (a: Props) =>
    a.type === 'redirect' && String(a.redirect?.protocol ?? '').toUpperCase() === 'HTTPS';
  return actions.length === 0 || !actions.every(redirectsToHttps);
}

/**
 * Listeners that serve plain HTTP (not only a redirect to HTTPS) on a load balancer whose security groups let
 * the whole internet reach the listener's port: passwords and tokens in clear, to anyone.
 */
export function plainHttpToInternet(resources: StackResourceView[]): StackResourceView[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const loadBalancers = resources.filter((r) => r.type === TYPES.loadBalancer);
  const openRules = resources.flatMap((r) => {
    const group = worldIngress(r).length > 0 ? owningGroup(r, byUrn) : undefined;
    return group ? [{ rules: worldIngress(r), group }] : [];
  });
  return resources.filter((listener) => {
    if (listener.type !== TYPES.listener || !servesPlainHttp(listener)) return false;
    const lb = loadBalancerOf(listener, loadBalancers);
    if (!lb) return false;
    const port = Number(listener.props.port ?? 80);
    return openRules.some(
      ({ rules, group }) =>
        referencesGroup(lb, 'securityGroups', lb.props.securityGroups, group) &&
        rules.some((r) => (r.protocol === 'tcp' || r.protocol === 'all') && r.fromPort <= port && port <= r.toPort),
    );
  });
}

export function checkPlainHttpToInternet(
  resources: StackResourceView[],
  stacks: { only?: string[]; except?: string[] },
): { urn: string; message: string }[] {
  return plainHttpToInternet(resources)
    .filter((l) => {
      const stack = stackOf(l.urn);
      return (stacks.only?.includes(stack) ?? true) && !(stacks.except?.includes(stack) ?? false);
    })
    .map((l) => ({
      urn: l.urn,
      message:
        `listener on port ${l.props.port ?? 80} serves plain HTTP to the whole internet: serve HTTPS (redirect HTTP) ` +
        'or restrict the load balancer to known networks',
    }));
}

// ---------------------------------------------------------------------------------------------------------
// Releases: rollback targets, images, secrets

/** awsx names a task definition family `<name>-<8 hex of a hash of the containers>` unless told otherwise. */
const HASHED_FAMILY = /-[0-9a-f]{8}$/;

/**
 * Task definitions keep a stable family and are never deregistered by Pulumi: the previous revision must stay
 * ACTIVE for a rollback (`update-service --task-definition <family>:<revision>`).
 */
export function checkTaskDefinitionKept(resource: ResourceView): string[] {
  if (resource.type !== TYPES.taskDefinition) return [];
  const problems: string[] = [];
  if (resource.props.skipDestroy !== true) {
    problems.push('task definition must set skipDestroy: a replaced revision is a rollback target, keep it ACTIVE');
  }
  const family = resource.props.family;
  if (typeof family === 'string' && HASHED_FAMILY.test(family)) {
    problems.push(
      `task definition family ${family} ends in a content hash (awsx default): set a stable family per stack, ` +
        'or each release starts a new family',
    );
  }
  return problems;
}

/** Image tags are immutable: a tag (the commit) always names the image a task definition was deployed with. */
export function checkImmutableTags(resource: ResourceView): string[] {
  if (resource.type !== TYPES.ecrRepository) return [];
  const mutability = resource.props.imageTagMutability;
  return mutability === 'IMMUTABLE' || mutability === 'IMMUTABLE_WITH_EXCLUSION'
    ? []
    : [`ECR repository tags are ${mutability ?? 'MUTABLE'}: set imageTagMutability IMMUTABLE (with exclusions)`];
}

/**
 * ECS reads secrets when a task starts: every ECS service of a stack holding secret values redeploys when one
 * changes (forceNewDeployment with triggers that depend on each secret version).
 */
export function checkSecretsRollServices(resources: StackResourceView[]): { urn: string; message: string }[] {
  const versions = resources.filter((r) => r.type === TYPES.secretVersion);
  if (versions.length === 0) return [];
  return resources
    .filter((r) => r.type === TYPES.ecsService)
    .flatMap((service) => {
      if (service.props.forceNewDeployment !== true) {
        return [
          {
            urn: service.urn,
            message:
              'ECS service must set forceNewDeployment with triggers on the secret versions, or tasks keep old secrets',
          },
        ];
      }
      const triggerDeps = service.propertyDependencies.triggers ?? [];
      return versions
        .filter((v) => !triggerDeps.includes(v.urn))
        .map((v) => ({
          urn: service.urn,
          message: `ECS service triggers do not follow ${v.urn}: a new value of that secret would not reach the tasks`,
        }));
    });
}

// ---------------------------------------------------------------------------------------------------------
// Logs, services, tables

export function checkLogRetention(resource: ResourceView): string[] {
  if (resource.type !== TYPES.logGroup) return [];
  const days = resource.props.retentionInDays;
  return typeof days === 'number' && days > 0 ? [] : ['log group keeps its events forever: set retentionInDays'];
}

export function checkCircuitBreaker(resource: ResourceView): string[] {
  if (resource.type !== TYPES.ecsService) return [];
  const breaker = resource.props.deploymentCircuitBreaker;
  return breaker?.enable === true && breaker?.rollback === true
    ? []
    : ['ECS service must enable deploymentCircuitBreaker with rollback, so a failing deployment rolls back'];
}

/** With autoscaling on ECS in the stack, every service leaves its task count to the scaler. */
export function checkDesiredCountIgnored(resources: StackResourceView[]): { urn: string; message: string }[] {
  const autoscaled = resources.some(
    (r) => r.type === TYPES.scalingTarget && r.props.scalableDimension === 'ecs:service:DesiredCount',
  );
  if (!autoscaled) return [];
  return resources
    .filter((r) => r.type === TYPES.ecsService && !(r.opts?.ignoreChanges ?? []).includes('desiredCount'))
    .map((r) => ({
      urn: r.urn,
      message: 'ECS service is autoscaled but does not ignore desiredCount: every update would reset the task count',
    }));
}

/** `urn:pulumi:<stack>::<project>::<type>::<name>` */
export const stackOf = (urn: string) => urn.split('::')[0]?.replace(/^urn:pulumi:/, '') ?? '';

export function checkProductionTable(resource: ResourceView, productionStacks: string[]): string[] {
  if (resource.type !== TYPES.table || !productionStacks.includes(stackOf(resource.urn))) return [];
  const problems: string[] = [];
  if (resource.props.deletionProtectionEnabled !== true) problems.push('deletionProtectionEnabled must be true');
  if (resource.props.pointInTimeRecovery?.enabled !== true) problems.push('pointInTimeRecovery must be enabled');
  if (resource.opts && resource.opts.protect !== true) problems.push('the resource must be `protect`ed in Pulumi');
  return problems.map((p) => `production table: ${p}`);
}

// ---------------------------------------------------------------------------------------------------------
// IAM

interface Statement {
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
}

const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Allow statements never use a wildcard action, NotAction/NotResource, or `*` as resource. */
export function checkPolicyDocument(document: unknown): string[] {
  const doc = (typeof document === 'string' ? JSON.parse(document) : document) as { Statement?: unknown };
  const raw = doc?.Statement;
  const statements = (Array.isArray(raw) ? raw : raw ? [raw] : []) as Statement[];
  const problems: string[] = [];
  for (const s of statements) {
    if (s.Effect !== 'Allow') continue;
    for (const action of list(s.Action)) {
      if (action.includes('*')) problems.push(`wildcard action ${action}`);
    }
    for (const resource of list(s.Resource)) {
      if (resource === '*') problems.push('resource *');
    }
    if (s.NotAction !== undefined) problems.push('NotAction in an Allow statement');
    if (s.NotResource !== undefined) problems.push('NotResource in an Allow statement');
  }
  return problems;
}

const POLICY_TYPES: string[] = [TYPES.rolePolicy, TYPES.policy, TYPES.userPolicy, TYPES.groupPolicy];

export function checkIamWildcards(resource: ResourceView): string[] {
  if (POLICY_TYPES.includes(resource.type)) return checkPolicyDocument(resource.props.policy);
  if (resource.type === TYPES.role) {
    const inline = (resource.props.inlinePolicies as Props[] | undefined) ?? [];
    return inline.filter((p) => p.policy !== undefined).flatMap((p) => checkPolicyDocument(p.policy));
  }
  return [];
}
