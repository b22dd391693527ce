/**
 * Monitoring tier: the alerts topic (CloudWatch alarms and the service's own churn alerts go to it),
 * alarms on what users feel (5xx, latency, unhealthy tasks, too few healthy tasks, readiness seen from
 * outside by Route 53 health checkers) and on what the data tier reports (DynamoDB system errors,
 * throttling), metrics from the service's `churn_alert` and `webhook_disabled` log events, and a dashboard.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { HEALTH_PATHS, LOG_EVENTS } from '../api/contract.js';
import { SERVICE_DYNAMODB_ACTIONS } from '../api/db/permissions.js';
import type { Settings } from './config.js';
import type { DataTier } from './data.js';
import type { EdgeTier } from './edge.js';
import { healthCheckPort } from './network.js';
import type { ServiceTier } from './service.js';

/**
 * Route 53 publishes health-check metrics in us-east-1 only: the outside-readiness alarm, and the topic it
 * notifies (an alarm notifies topics of its own region), live there.
 */
export const ROUTE53_METRICS_REGION = 'us-east-1';
/** Seconds between two probes of one Route 53 checker, and failed probes before a checker calls it down. */
export const OUTSIDE_CHECK = { requestInterval: 30, failureThreshold: 3 } as const;

export const CHURN_ALERT_METRIC = 'ChurnAlerts';
export const WEBHOOKS_DISABLED_METRIC = 'WebhooksDisabled';
/** The filter pattern matching one of the service's JSON log events (api/contract.ts names them). */
export const logEventPattern = (event: string) => `{ $.event = "${event}" }`;
export const churnAlertPattern = logEventPattern(LOG_EVENTS.churnAlert);
export const webhookDisabledPattern = logEventPattern(LOG_EVENTS.webhookDisabled);
export const metricNamespace = (settings: Settings) => `Freeda/${settings.stack}`;

/**
 * DynamoDB reports SystemErrors and ThrottledRequests per table *and operation*; the alarms sum the data
 * operations the service performs (its IAM actions, minus the control-plane DescribeTable).
 */
export const DATA_OPERATIONS = SERVICE_DYNAMODB_ACTIONS.map((a) => a.replace(/^dynamodb:/, '')).filter(
  (op) => op !== 'DescribeTable',
);

export function createAlertsTopic(settings: Settings, name = 'alerts', region?: string): aws.sns.Topic {
  const topic = new aws.sns.Topic(name, {
    displayName: `Freeda ${settings.stack} alerts`,
    ...(region ? { region } : {}),
  });
  if (settings.monitoring.alarmEmail) {
    new aws.sns.TopicSubscription(`${name}-email`, {
      topic: topic.arn,
      protocol: 'email',
      endpoint: settings.monitoring.alarmEmail,
      ...(region ? { region } : {}),
    });
  }
  return topic;
}

export interface MonitoringTier {
  alarms: aws.cloudwatch.MetricAlarm[];
  dashboard: aws.cloudwatch.Dashboard;
  churnAlerts: aws.cloudwatch.LogMetricFilter;
  webhooksDisabled: aws.cloudwatch.LogMetricFilter;
  /** Route 53 health check calling the readiness path through the public listener. */
  outsideCheck: aws.route53.HealthCheck;
  /** The outside-readiness alarm, in ROUTE53_METRICS_REGION with its own topic. */
  outsideAlarm: aws.cloudwatch.MetricAlarm;
}

/**
 * Readiness as a client sees it: Route 53 checkers in several regions call /health/ready on the public name
 * (or the ALB's), through the listener and its restrictions. When it fails, users fail too, whatever the
 * in-VPC metrics say (a broken listener, certificate, security group or DNS never shows in target metrics).
 */
function createOutsideCheck(settings: Settings, edge: EdgeTier) {
  const https = settings.edge.access === 'https';
  const host = settings.edge.domainName ?? edge.alb.loadBalancer.dnsName;
  const outsideCheck = new aws.route53.HealthCheck('ready-from-outside', {
    type: https ? 'HTTPS' : 'HTTP',
    fqdn: host,
    port: healthCheckPort(settings),
    resourcePath: HEALTH_PATHS.ready,
    enableSni: https,
    requestInterval: OUTSIDE_CHECK.requestInterval,
    failureThreshold: OUTSIDE_CHECK.failureThreshold,
    tags: { Name: `${settings.prefix} ${HEALTH_PATHS.ready}` },
  });
  const topic = createAlertsTopic(settings, `alerts-${ROUTE53_METRICS_REGION}`, ROUTE53_METRICS_REGION);
  const outsideAlarm = new aws.cloudwatch.MetricAlarm('ready-from-outside', {
    region: ROUTE53_METRICS_REGION,
    alarmDescription: pulumi.interpolate`${HEALTH_PATHS.ready} fails from outside (Route 53 health check on ${host})`,
    namespace: 'AWS/Route53',
    metricName: 'HealthCheckStatus',
    dimensions: { HealthCheckId: outsideCheck.id },
    statistic: 'Minimum',
    period: 60,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    threshold: 1,
    comparisonOperator: 'LessThanThreshold',
    // No data means no check is running: that is not "healthy".
    treatMissingData: 'breaching',
    alarmActions: [topic.arn],
    okActions: [topic.arn],
  });
  return { outsideCheck, outsideAlarm };
}

export function createMonitoring(args: {
  settings: Settings;
  region: pulumi.Input<string>;
  topic: aws.sns.Topic;
  data: DataTier;
  edge: EdgeTier;
  service: ServiceTier;
}): MonitoringTier {
  const { settings, topic, data, edge, service } = args;
  const lb = edge.alb.loadBalancer.arnSuffix;
  const tg = edge.alb.defaultTargetGroup.arnSuffix;
  const alarms: aws.cloudwatch.MetricAlarm[] = [];

  /** Operational alarms also say when they recover; business alerts (`notifyRecovery: false`) do not. */
  const alarm = (
    name: string,
    alarmArgs: Omit<aws.cloudwatch.MetricAlarmArgs, 'alarmActions' | 'okActions'>,
    notifyRecovery = true,
  ) => {
    const a = new aws.cloudwatch.MetricAlarm(name, {
      treatMissingData: 'notBreaching',
      ...alarmArgs,
      alarmActions: [topic.arn],
      okActions: notifyRecovery ? [topic.arn] : [],
    });
    alarms.push(a);
    return a;
  };

  for (const { definition, table } of data.tables) {
    for (const metric of ['SystemErrors', 'ThrottledRequests'] as const) {
      alarm(`${definition.suffix}-${metric === 'SystemErrors' ? 'system-errors' : 'throttles'}`, {
        alarmDescription: pulumi.interpolate`DynamoDB ${metric} on ${table.name} (sum of the service's operations)`,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
        threshold: metric === 'SystemErrors' ? 1 : 5,
        evaluationPeriods: 1,
        metricQueries: [
          {
            id: 'total',
            label: `${metric} (all operations)`,
            expression: `SUM([${DATA_OPERATIONS.map((_, i) => `m${i}`).join(',')}])`,
            returnData: true,
          },
          ...DATA_OPERATIONS.map((operation, i) => ({
            id: `m${i}`,
            returnData: false,
            metric: {
              namespace: 'AWS/DynamoDB',
              metricName: metric,
              dimensions: { TableName: table.name, Operation: operation },
              stat: 'Sum',
              period: 300,
            },
          })),
        ],
      });
    }
  }

  alarm('alb-5xx', {
    alarmDescription: 'The load balancer itself answered 5xx (no healthy task, timeouts, connection errors)',
    namespace: 'AWS/ApplicationELB',
    metricName: 'HTTPCode_ELB_5XX_Count',
    dimensions: { LoadBalancer: lb },
    statistic: 'Sum',
    period: 300,
    evaluationPeriods: 1,
    threshold: 10,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
  });
  alarm('target-5xx', {
    alarmDescription: 'The service answered 5xx',
    namespace: 'AWS/ApplicationELB',
    metricName: 'HTTPCode_Target_5XX_Count',
    dimensions: { LoadBalancer: lb, TargetGroup: tg },
    statistic: 'Sum',
    period: 300,
    evaluationPeriods: 1,
    threshold: 10,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
  });
  alarm('unhealthy-hosts', {
    alarmDescription: 'A task fails the readiness health check',
    namespace: 'AWS/ApplicationELB',
    metricName: 'UnHealthyHostCount',
    dimensions: { LoadBalancer: lb, TargetGroup: tg },
    statistic: 'Maximum',
    period: 60,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    threshold: 1,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
  });
  alarm('healthy-hosts', {
    alarmDescription:
      `Fewer healthy tasks than the minimum (${settings.scaling.minTasks}): tasks crash before registering, ` +
      'or fail readiness; none at all is a full outage',
    namespace: 'AWS/ApplicationELB',
    metricName: 'HealthyHostCount',
    dimensions: { LoadBalancer: lb, TargetGroup: tg },
    statistic: 'Minimum',
    period: 60,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    threshold: settings.scaling.minTasks,
    comparisonOperator: 'LessThanThreshold',
    // The ALB stops publishing the metric when the target group has no target at all: that is the outage.
    treatMissingData: 'breaching',
  });
  alarm('latency-p99', {
    alarmDescription: `p99 response time above ${settings.monitoring.latencyAlarmMs} ms`,
    namespace: 'AWS/ApplicationELB',
    metricName: 'TargetResponseTime',
    dimensions: { LoadBalancer: lb, TargetGroup: tg },
    extendedStatistic: 'p99',
    period: 60,
    evaluationPeriods: 5,
    datapointsToAlarm: 3,
    threshold: settings.monitoring.latencyAlarmMs / 1000,
    comparisonOperator: 'GreaterThanThreshold',
  });
  alarm('memory-high', {
    alarmDescription: 'Average memory of the tasks above 85% (scaling follows CPU, not memory)',
    namespace: 'AWS/ECS',
    metricName: 'MemoryUtilization',
    dimensions: { ClusterName: service.cluster.name, ServiceName: service.service.service.name },
    statistic: 'Average',
    period: 300,
    evaluationPeriods: 2,
    threshold: 85,
    comparisonOperator: 'GreaterThanThreshold',
  });

  /**
   * A count of one log event, and an alarm when it happens at all. These are events, not states: the alarm
   * says when one happens, not when the next five minutes are quiet.
   */
  const logEventAlarm = (name: string, pattern: string, metricName: string, alarmDescription: string) => {
    const filter = new aws.cloudwatch.LogMetricFilter(name, {
      logGroupName: service.logGroup.name,
      pattern,
      metricTransformation: { namespace: metricNamespace(settings), name: metricName, value: '1', unit: 'Count' },
    });
    alarm(
      name,
      {
        alarmDescription,
        namespace: metricNamespace(settings),
        metricName,
        statistic: 'Sum',
        period: 300,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
      },
      false,
    );
    return filter;
  };
  const churnAlerts = logEventAlarm(
    'churn-alerts',
    churnAlertPattern,
    CHURN_ALERT_METRIC,
    'The assistant flagged a customer about to leave (urgent retention); see the service logs',
  );
  const webhooksDisabled = logEventAlarm(
    'webhooks-disabled',
    webhookDisabledPattern,
    WEBHOOKS_DISABLED_METRIC,
    'A webhook subscription failed for days and was disabled: its receiver gets nothing until an admin resumes ' +
      'it (PATCH /v1/webhooks/{id} {"enabled": true}); the log line names it',
  );

  const dashboard = new aws.cloudwatch.Dashboard('api', {
    dashboardName: settings.prefix,
    dashboardBody: pulumi
      .all([
        args.region,
        lb,
        tg,
        service.cluster.name,
        service.service.service.name,
        pulumi.all(data.tables.map((t) => t.table.name)),
        pulumi.all(alarms.map((a) => a.arn)),
      ])
      .apply(([region, lbSuffix, tgSuffix, clusterName, serviceName, tableNames, alarmArns]) =>
        JSON.stringify(
          dashboardBody({
            region,
            lbSuffix,
            tgSuffix,
            clusterName,
            serviceName,
            tableNames,
            alarmArns,
            namespace: metricNamespace(settings),
          }),
        ),
      ),
  });

  return { alarms, dashboard, churnAlerts, webhooksDisabled, ...createOutsideCheck(settings, edge) };
}

export function dashboardUrl(region: string, name: string): string {
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${name}`;
}

interface DashboardInputs {
  region: string;
  lbSuffix: string;
  tgSuffix: string;
  clusterName: string;
  serviceName: string;
  tableNames: string[];
  alarmArns: string[];
  namespace: string;
}

/** Dashboard body: traffic and errors, latency, tasks, DynamoDB, alerts from the logs, alarm states. */
export function dashboardBody(d: DashboardInputs) {
  const alb = (metric: string, stat = 'Sum', extra: Record<string, string> = {}) => [
    'AWS/ApplicationELB',
    metric,
    'LoadBalancer',
    d.lbSuffix,
    ...Object.entries(extra).flat(),
    { stat },
  ];
  const ecs = (metric: string) => ['AWS/ECS', metric, 'ClusterName', d.clusterName, 'ServiceName', d.serviceName];
  const graph = (title: string, metrics: unknown[], x: number, y: number, extra: Record<string, unknown> = {}) => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: d.region, view: 'timeSeries', stacked: false, period: 60, metrics, ...extra },
  });
  return {
    widgets: [
      graph(
        'Requests and errors',
        [
          alb('RequestCount'),
          alb('HTTPCode_Target_4XX_Count'),
          alb('HTTPCode_Target_5XX_Count'),
          alb('HTTPCode_ELB_5XX_Count'),
        ],
        0,
        0,
      ),
      graph(
        'Response time (s)',
        ['p50', 'p95', 'p99'].map((p) => alb('TargetResponseTime', p, { TargetGroup: d.tgSuffix })),
        12,
        0,
      ),
      graph(
        'Tasks: CPU and memory (%)',
        [
          [...ecs('CPUUtilization'), { stat: 'Average' }],
          [...ecs('MemoryUtilization'), { stat: 'Average' }],
        ],
        0,
        6,
      ),
      graph(
        'Targets',
        [
          alb('HealthyHostCount', 'Minimum', { TargetGroup: d.tgSuffix }),
          alb('UnHealthyHostCount', 'Maximum', { TargetGroup: d.tgSuffix }),
        ],
        12,
        6,
      ),
      graph(
        'DynamoDB capacity consumed',
        d.tableNames.flatMap((t) => [
          ['AWS/DynamoDB', 'ConsumedReadCapacityUnits', 'TableName', t, { stat: 'Sum' }],
          ['AWS/DynamoDB', 'ConsumedWriteCapacityUnits', 'TableName', t, { stat: 'Sum' }],
        ]),
        0,
        12,
      ),
      graph(
        'Churn alerts and disabled webhooks',
        [CHURN_ALERT_METRIC, WEBHOOKS_DISABLED_METRIC].map((metric) => [d.namespace, metric, { stat: 'Sum' }]),
        12,
        12,
      ),
      {
        type: 'alarm',
        x: 0,
        y: 18,
        width: 24,
        height: 4,
        properties: { title: 'Alarms', alarms: d.alarmArns },
      },
    ],
  };
}
