/**
 * The policies of the pack: each wires one rule of rules.ts to the engine's view of a resource or of the
 * whole stack. Kept apart from index.ts (which starts the policy server) so tests can run them directly.
 */
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import {
  checkCircuitBreaker,
  checkDesiredCountIgnored,
  checkIamWildcards,
  checkImmutableTags,
  checkLogRetention,
  checkPlainHttpToInternet,
  checkProductionTable,
  checkSecretsRollServices,
  checkTaskDefinitionKept,
  checkWorldIngressOwners,
  checkWorldIngressPorts,
  type ResourceView,
  type StackResourceView,
} from './rules';

/** Stacks whose tables must be protected (policy config `productionStacks` overrides it). */
export const DEFAULT_PRODUCTION_STACKS = ['production'];

const view = (args: ResourceValidationArgs): ResourceView => ({
  type: args.type,
  urn: args.urn,
  props: args.props,
  opts: { protect: args.opts.protect, ignoreChanges: args.opts.ignoreChanges },
});

const stackView = (r: PolicyResource): StackResourceView => ({
  type: r.type,
  urn: r.urn,
  props: r.props,
  opts: { protect: r.opts.protect, ignoreChanges: r.opts.ignoreChanges },
  propertyDependencies: Object.fromEntries(
    Object.entries(r.propertyDependencies).map(([property, deps]) => [property, deps.map((d) => d.urn)]),
  ),
});

function resourcePolicy(
  name: string,
  description: string,
  check: (resource: ResourceView, args: ResourceValidationArgs) => string[],
): ResourceValidationPolicy {
  return {
    name,
    description,
    enforcementLevel: 'mandatory',
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
      for (const message of check(view(args), args)) report(message);
    },
  };
}

function stackPolicy(
  name: string,
  description: string,
  check: (resources: StackResourceView[], args: StackValidationArgs) => { urn: string; message: string }[],
  enforcementLevel: 'mandatory' | 'advisory' = 'mandatory',
): StackValidationPolicy {
  return {
    name,
    description,
    enforcementLevel,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
      for (const { urn, message } of check(args.resources.map(stackView), args)) report(message, urn);
    },
  };
}

const productionStacksSchema = {
  properties: {
    productionStacks: {
      type: 'array' as const,
      items: { type: 'string' as const },
      default: DEFAULT_PRODUCTION_STACKS,
    },
  },
};
const productionStacks = (args: { getConfig<T extends object>(): T }) =>
  args.getConfig<{ productionStacks?: string[] }>().productionStacks ?? DEFAULT_PRODUCTION_STACKS;

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  resourcePolicy(
    'internet-ingress-only-http-https',
    'Ingress from 0.0.0.0/0 or ::/0 is only TCP 80 or 443 (awsx default security groups allow everything).',
    checkWorldIngressPorts,
  ),
  stackPolicy(
    'internet-ingress-only-on-load-balancers',
    'A security group open to the internet belongs to a load balancer, never to an ECS service.',
    checkWorldIngressOwners,
  ),
  resourcePolicy(
    'log-groups-have-retention',
    'Every CloudWatch log group expires its events (awsx creates log groups without retention).',
    checkLogRetention,
  ),
  resourcePolicy(
    'ecs-services-roll-back-failed-deployments',
    'Every ECS service has deploymentCircuitBreaker { enable: true, rollback: true }.',
    checkCircuitBreaker,
  ),
  stackPolicy(
    'ecs-services-leave-task-count-to-autoscaling',
    'When ECS services are autoscaled, every service ignores changes to desiredCount.',
    checkDesiredCountIgnored,
  ),
  {
    ...resourcePolicy(
      'production-tables-protected',
      'DynamoDB tables of production stacks have deletion protection, point-in-time recovery and `protect`.',
      (resource, args) =>
        checkProductionTable(
          resource,
          args.getConfig<{ productionStacks?: string[] }>().productionStacks ?? DEFAULT_PRODUCTION_STACKS,
        ),
    ),
    configSchema: productionStacksSchema,
  },
  {
    ...stackPolicy(
      'production-no-plain-http-to-internet',
      'Production load balancers answer the internet over HTTPS only (plain HTTP listeners only redirect).',
      (resources, args) => checkPlainHttpToInternet(resources, { only: productionStacks(args) }),
    ),
    configSchema: productionStacksSchema,
  },
  {
    // Outside production an explicit `allowPlainHttp` may be deliberate: flagged on every preview, not refused.
    ...stackPolicy(
      'plain-http-to-internet',
      'A load balancer serving plain HTTP to the whole internet is flagged (set a certificate or allowedCidrs).',
      (resources, args) => checkPlainHttpToInternet(resources, { except: productionStacks(args) }),
      'advisory',
    ),
    configSchema: productionStacksSchema,
  },
  resourcePolicy(
    'task-definitions-kept-for-rollback',
    'ECS task definitions keep a stable family and skipDestroy, so previous revisions stay rollback targets.',
    checkTaskDefinitionKept,
  ),
  resourcePolicy(
    'ecr-tags-immutable',
    'ECR repositories keep image tags immutable (IMMUTABLE or IMMUTABLE_WITH_EXCLUSION).',
    checkImmutableTags,
  ),
  stackPolicy(
    'ecs-services-roll-on-secret-change',
    'ECS services redeploy when a secret version of the stack changes (forceNewDeployment + triggers).',
    checkSecretsRollServices,
  ),
  resourcePolicy(
    'iam-no-wildcards',
    'IAM policies allow named actions on named resources: no `*` in actions, no `*` resource, no Not*.',
    checkIamWildcards,
  ),
];
