/**
 * Network tier: a VPC over several zones (public subnets for the ALB and NAT, private subnets for the
 * tasks), a DynamoDB gateway endpoint (table traffic never crosses the NAT), and the two security groups.
 * Every security-group rule is its own resource: the internet (or only `allowedCidrs`, plus Route 53's health
 * checkers) reaches the ALB on 80 (and 443 with HTTPS), the ALB reaches the tasks on the container port only,
 * the tasks reach out on 443 only.
 */
import * as aws from '@pulumi/aws';
import * as awsx from '@pulumi/awsx';
import * as pulumi from '@pulumi/pulumi';
import { CONTAINER_PORT } from '../api/contract.js';
import type { Settings } from './config.js';

export interface NetworkTier {
  vpc: awsx.ec2.Vpc;
  albSecurityGroup: aws.ec2.SecurityGroup;
  taskSecurityGroup: aws.ec2.SecurityGroup;
  dynamodbEndpoint: aws.ec2.VpcEndpoint;
}

export const ANYWHERE_IPV4 = '0.0.0.0/0';

/** AWS-managed prefix list of the Route 53 health checkers of a region (they probe /health/ready from outside). */
export const route53HealthCheckersPrefixList = (region: string) => `com.amazonaws.${region}.route53-healthchecks`;

/** Listener ports of an access mode: HTTPS also keeps 80 open, for the redirect. */
export const listenerPorts = (settings: Settings) => (settings.edge.access === 'https' ? [80, 443] : [80]);

/** Port the outside health check calls: HTTPS when served, else HTTP. */
export const healthCheckPort = (settings: Settings) => (settings.edge.access === 'https' ? 443 : 80);

const ruleSuffix = (cidr: string) => cidr.replace(/[/:]/g, '-');

export function createNetworkTier(settings: Settings, region: pulumi.Input<string>): NetworkTier {
  const vpc = new awsx.ec2.Vpc('vpc', {
    cidrBlock: settings.network.cidr,
    numberOfAvailabilityZones: settings.network.availabilityZones,
    natGateways: { strategy: settings.network.natGateways },
    subnetStrategy: 'Auto',
    subnetSpecs: [
      { type: 'Public', cidrMask: 24 },
      { type: 'Private', cidrMask: 19 },
    ],
    enableDnsHostnames: true,
    enableDnsSupport: true,
  });

  // Gateway endpoints are free; every route table gets the DynamoDB prefix-list route.
  const dynamodbEndpoint = new aws.ec2.VpcEndpoint('dynamodb', {
    vpcId: vpc.vpcId,
    serviceName: pulumi.interpolate`com.amazonaws.${region}.dynamodb`,
    vpcEndpointType: 'Gateway',
    routeTableIds: vpc.routeTables.apply((tables) => pulumi.all(tables.map((t) => t.id))),
  });

  const albSecurityGroup = new aws.ec2.SecurityGroup('alb', {
    vpcId: vpc.vpcId,
    description: 'Freeda ALB: HTTP(S) from the internet, to the tasks on the container port',
  });
  const taskSecurityGroup = new aws.ec2.SecurityGroup('tasks', {
    vpcId: vpc.vpcId,
    description: 'Freeda tasks: container port from the ALB only, HTTPS out',
  });

  const what = (port: number) =>
    port === 443 ? 'HTTPS' : settings.edge.access === 'https' ? 'HTTP (redirect)' : 'HTTP';
  const { allowedCidrs } = settings.edge;
  for (const port of listenerPorts(settings)) {
    if (allowedCidrs.length === 0) {
      new aws.vpc.SecurityGroupIngressRule(`alb-in-${port}`, {
        securityGroupId: albSecurityGroup.id,
        description: `${what(port)} from the internet`,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        cidrIpv4: ANYWHERE_IPV4,
      });
      continue;
    }
    for (const cidr of allowedCidrs) {
      new aws.vpc.SecurityGroupIngressRule(`alb-in-${port}-${ruleSuffix(cidr)}`, {
        securityGroupId: albSecurityGroup.id,
        description: `${what(port)} from an allowed network`,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        ...(cidr.includes(':') ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
      });
    }
  }
  if (allowedCidrs.length > 0) {
    // The outside health check must get through the restriction (monitoring.ts).
    const checkers = aws.ec2.getManagedPrefixListOutput({
      name: pulumi.output(region).apply(route53HealthCheckersPrefixList),
    });
    new aws.vpc.SecurityGroupIngressRule('alb-in-health-checkers', {
      securityGroupId: albSecurityGroup.id,
      description: 'Route 53 health checkers (readiness from outside)',
      ipProtocol: 'tcp',
      fromPort: healthCheckPort(settings),
      toPort: healthCheckPort(settings),
      prefixListId: checkers.id,
    });
  }
  new aws.vpc.SecurityGroupEgressRule('alb-out-tasks', {
    securityGroupId: albSecurityGroup.id,
    description: 'Requests and health checks to the tasks',
    ipProtocol: 'tcp',
    fromPort: CONTAINER_PORT,
    toPort: CONTAINER_PORT,
    referencedSecurityGroupId: taskSecurityGroup.id,
  });
  new aws.vpc.SecurityGroupIngressRule('tasks-in-alb', {
    securityGroupId: taskSecurityGroup.id,
    description: 'Requests and health checks from the ALB',
    ipProtocol: 'tcp',
    fromPort: CONTAINER_PORT,
    toPort: CONTAINER_PORT,
    referencedSecurityGroupId: albSecurityGroup.id,
  });
  new aws.vpc.SecurityGroupEgressRule('tasks-out-https', {
    securityGroupId: taskSecurityGroup.id,
    description: 'HTTPS to AWS APIs (DynamoDB, ECR, Logs, Secrets Manager, SNS) and Mistral',
    ipProtocol: 'tcp',
    fromPort: 443,
    toPort: 443,
    cidrIpv4: ANYWHERE_IPV4,
  });

  return { vpc, albSecurityGroup, taskSecurityGroup, dynamodbEndpoint };
}
