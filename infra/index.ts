/**
 * Freeda on AWS: one `pulumi up` per stack (staging, production) creates the data tier, the image, the
 * network, the load balancer, the Fargate service with its autoscaling, the secrets, the alarms and the
 * dashboard, and leaves the service running. Settings: Pulumi.yaml (defaults) and Pulumi.<stack>.yaml.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { principalsTable as principalsDefinition, ticketsTable as ticketsDefinition } from '../api/db/tables.js';
import { readSettings } from './config.js';
import { createDataTier } from './data.js';
import { createEdgeTier } from './edge.js';
import { createRoles } from './iam.js';
import { createImageTier } from './image.js';
import { dashboardUrl as consoleDashboardUrl, createAlertsTopic, createMonitoring } from './monitoring.js';
import { createNetworkTier } from './network.js';
import { createScaling } from './scaling.js';
import { createSecretsTier } from './secrets.js';
import { createServiceTier } from './service.js';

const settings = readSettings();
const region = aws.getRegionOutput().region;
const accountId = aws.getCallerIdentityOutput().accountId;

const data = createDataTier(settings);
const alertsTopic = createAlertsTopic(settings);
const secrets = createSecretsTier(settings, data.key);
const roles = createRoles({
  region,
  accountId,
  tableArns: data.tables.map((t) => t.table.arn),
  alertsTopicArn: alertsTopic.arn,
  kmsKeyArn: data.key.arn,
  secretArns: secrets.secrets.map((s) => s.secret.arn),
});
const network = createNetworkTier(settings, region);
const image = createImageTier(settings);
const edge = createEdgeTier(settings, network);
const service = createServiceTier({
  settings,
  region,
  network,
  edge,
  image,
  data,
  secrets: secrets.secrets,
  taskRole: roles.taskRole,
  executionRole: roles.executionRole,
  grants: roles.grants,
  alertsTopicArn: alertsTopic.arn,
});
createScaling(settings, service, edge);
const monitoring = createMonitoring({ settings, region, topic: alertsTopic, data, edge, service });

if (settings.edge.access === 'public-http') {
  pulumi.log.warn(
    `allowPlainHttp: stack ${settings.stack} serves plain HTTP to the whole internet (passwords and tokens in clear). ` +
      'Set certificateArn or allowedCidrs; see docs/deploy.md.',
  );
} else if (settings.edge.access === 'restricted-http') {
  pulumi.log.warn(`no certificateArn: plain HTTP, reachable from ${settings.edge.allowedCidrs.join(', ')} only.`);
}

const tableName = (suffix: string) => {
  const entry = data.tables.find((t) => t.definition.suffix === suffix);
  if (!entry) throw new Error(`no table ${suffix}`);
  return entry.table.name;
};

const scheme = settings.edge.access === 'https' ? 'https' : 'http';
export const url = settings.edge.domainName
  ? pulumi.output(`${scheme}://${settings.edge.domainName}`)
  : pulumi.interpolate`${scheme}://${edge.alb.loadBalancer.dnsName}`;
/** Target of the DNS record (CNAME or alias) of `domainName`. */
export const loadBalancerDnsName = edge.alb.loadBalancer.dnsName;
/** https, restricted-http (only `allowedCidrs` may connect) or public-http (explicitly allowed plain HTTP). */
export const publicAccess = settings.edge.access;
/** Networks the listeners are restricted to (comma-separated; empty = the internet). */
export const allowedCidrs = settings.edge.allowedCidrs.join(',');
/** Whether the program owns `domainName`'s DNS record (else CI checks the ALB with the domain's Host and SNI). */
export const dnsRecordManaged = edge.dnsRecord !== undefined;
export const dataKeyArn = data.key.arn;
export const outsideHealthCheckId = monitoring.outsideCheck.id;
export const ticketsTable = tableName(ticketsDefinition.suffix);
export const principalsTable = tableName(principalsDefinition.suffix);
export const repositoryUrl = image.repository.url;
export const imageUri = image.image.imageUri;
export const alertsTopicArn = alertsTopic.arn;
export const dashboardUrl = pulumi
  .all([region, monitoring.dashboard.dashboardName])
  .apply(([r, name]) => consoleDashboardUrl(r, name));
export const clusterName = service.cluster.name;
export const serviceName = service.service.service.name;
/**
 * Task definition revision this update registered (not the service's, which ECS rewrites on a rollback); CI
 * checks the service's primary deployment runs it (no silent rollback).
 */
export const taskDefinitionArn = service.taskDefinitionArn;
export const logGroupName = service.logGroup.name;
export const bootstrapAdminKeySecretArn = secrets.bootstrapAdminKey.arn;
