/**
 * Edge tier: the internet-facing ALB (own security group, explicit target group on the container port
 * with the readiness health check), HTTPS with an HTTP->HTTPS redirect when a certificate is configured
 * (plain HTTP otherwise, which config.ts only accepts restricted to `allowedCidrs` or explicitly allowed), the
 * alias record of the domain when its Route 53 zone is given, and optionally a WAF web ACL whose per-IP rate
 * limit holds across every task.
 */
import * as aws from '@pulumi/aws';
import * as awsx from '@pulumi/awsx';
import { ALB_IDLE_TIMEOUT_SECONDS, CONTAINER_PORT, HEALTH_PATHS } from '../api/contract.js';
import type { Settings } from './config.js';
import type { NetworkTier } from './network.js';

/**
 * Seconds the ALB keeps a deregistered task draining before ECS stops it. Long enough for an assistant
 * reply to finish, short enough that a deployment does not wait minutes per task.
 */
export const DEREGISTRATION_DELAY_SECONDS = 30;
export const TLS_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';

export const HEALTH_CHECK = {
  path: HEALTH_PATHS.ready,
  protocol: 'HTTP',
  matcher: '200',
  interval: 15,
  timeout: 5,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
} as const;

export interface EdgeTier {
  alb: awsx.lb.ApplicationLoadBalancer;
  webAcl: aws.wafv2.WebAcl | undefined;
  /** `domainName`'s alias record, when the program owns the zone (`hostedZoneId`). */
  dnsRecord: aws.route53.Record | undefined;
}

export function createEdgeTier(settings: Settings, network: NetworkTier): EdgeTier {
  const certificateArn = settings.edge.access === 'https' ? settings.edge.certificateArn : undefined;
  const listeners = certificateArn
    ? {
        listeners: [
          { port: 443, protocol: 'HTTPS', certificateArn, sslPolicy: TLS_POLICY },
          {
            port: 80,
            protocol: 'HTTP',
            defaultActions: [
              { type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } },
            ],
          },
        ],
      }
    : { listener: { port: 80, protocol: 'HTTP' } };

  const alb = new awsx.lb.ApplicationLoadBalancer('api', {
    subnetIds: network.vpc.publicSubnetIds,
    securityGroups: [network.albSecurityGroup.id],
    idleTimeout: ALB_IDLE_TIMEOUT_SECONDS,
    dropInvalidHeaderFields: true,
    enableDeletionProtection: settings.protectData,
    defaultTargetGroup: {
      port: CONTAINER_PORT,
      protocol: 'HTTP',
      targetType: 'ip',
      deregistrationDelay: DEREGISTRATION_DELAY_SECONDS,
      healthCheck: { ...HEALTH_CHECK },
    },
    ...listeners,
  });

  const webAcl = settings.edge.waf ? createWebAcl(settings, alb) : undefined;
  const { hostedZoneId, domainName } = settings.edge;
  const dnsRecord =
    hostedZoneId && domainName
      ? new aws.route53.Record('api', {
          zoneId: hostedZoneId,
          name: domainName,
          type: 'A',
          aliases: [{ name: alb.loadBalancer.dnsName, zoneId: alb.loadBalancer.zoneId, evaluateTargetHealth: true }],
        })
      : undefined;
  return { alb, webAcl, dnsRecord };
}

function visibility(metricName: string) {
  return { cloudwatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName };
}

function createWebAcl(settings: Settings, alb: awsx.lb.ApplicationLoadBalancer): aws.wafv2.WebAcl {
  const managed = (priority: number, name: string) => ({
    name,
    priority,
    overrideAction: { none: {} },
    statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
    visibilityConfig: visibility(name),
  });
  const webAcl = new aws.wafv2.WebAcl('api', {
    description: `${settings.prefix}: per-IP rate limit and AWS managed rules in front of the API`,
    scope: 'REGIONAL',
    defaultAction: { allow: {} },
    rules: [
      {
        name: 'per-ip-rate-limit',
        priority: 0,
        action: { block: {} },
        statement: {
          rateBasedStatement: { limit: settings.edge.wafRateLimit, aggregateKeyType: 'IP', evaluationWindowSec: 300 },
        },
        visibilityConfig: visibility('per-ip-rate-limit'),
      },
      managed(1, 'AWSManagedRulesAmazonIpReputationList'),
      managed(2, 'AWSManagedRulesKnownBadInputsRuleSet'),
    ],
    visibilityConfig: visibility(`${settings.prefix}-api`),
  });
  new aws.wafv2.WebAclAssociation('api', {
    resourceArn: alb.loadBalancer.arn,
    webAclArn: webAcl.arn,
  });
  return webAcl;
}
