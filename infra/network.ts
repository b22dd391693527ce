/**
 * Network tier: a VPC over several zones (public subnets for the ALB and NAT, private subnets for the
 * tasks), a DynamoDB gateway endpoint (table traffic never crosses the NAT), and the two security groups.
 * Every security-group rule is its own resource: the internet reaches the ALB on 80 (and 443 with HTTPS),
 * the ALB reaches the tasks on the container port only, the tasks reach out on 443 only.
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

  const publicPorts = settings.edge.certificateArn ? [80, 443] : [80];
  for (const port of publicPorts) {
    new aws.vpc.SecurityGroupIngressRule(`alb-in-${port}`, {
      securityGroupId: albSecurityGroup.id,
      description: port === 443 ? 'HTTPS from the internet' : 'HTTP from the internet',
      ipProtocol: 'tcp',
      fromPort: port,
      toPort: port,
      cidrIpv4: ANYWHERE_IPV4,
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
