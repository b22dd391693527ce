/**
 * Application Auto Scaling of the service's task count: CPU target tracking, plus request-count tracking
 * per task when configured. Scale out fast, scale in slowly. The service itself ignores desiredCount
 * (service.ts), so deployments never fight the scaler.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { Settings } from './config.js';
import type { EdgeTier } from './edge.js';
import type { ServiceTier } from './service.js';

export const SCALE_OUT_COOLDOWN_SECONDS = 60;
export const SCALE_IN_COOLDOWN_SECONDS = 300;

export interface ScalingTier {
  target: aws.appautoscaling.Target;
  policies: aws.appautoscaling.Policy[];
}

export function createScaling(settings: Settings, service: ServiceTier, edge: EdgeTier): ScalingTier {
  const target = new aws.appautoscaling.Target('api', {
    serviceNamespace: 'ecs',
    scalableDimension: 'ecs:service:DesiredCount',
    resourceId: pulumi.interpolate`service/${service.cluster.name}/${service.service.service.name}`,
    minCapacity: settings.scaling.minTasks,
    maxCapacity: settings.scaling.maxTasks,
  });

  const tracking = (
    name: string,
    configuration: aws.types.input.appautoscaling.PolicyTargetTrackingScalingPolicyConfiguration,
  ) =>
    new aws.appautoscaling.Policy(name, {
      policyType: 'TargetTrackingScaling',
      serviceNamespace: target.serviceNamespace,
      scalableDimension: target.scalableDimension,
      resourceId: target.resourceId,
      targetTrackingScalingPolicyConfiguration: {
        scaleOutCooldown: SCALE_OUT_COOLDOWN_SECONDS,
        scaleInCooldown: SCALE_IN_COOLDOWN_SECONDS,
        ...configuration,
      },
    });

  const policies = [
    tracking('api-cpu', {
      predefinedMetricSpecification: { predefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      targetValue: settings.scaling.cpuTargetPercent,
    }),
  ];
  if (settings.scaling.requestsPerTarget > 0) {
    policies.push(
      tracking('api-requests', {
        predefinedMetricSpecification: {
          predefinedMetricType: 'ALBRequestCountPerTarget',
          resourceLabel: pulumi.interpolate`${edge.alb.loadBalancer.arnSuffix}/${edge.alb.defaultTargetGroup.arnSuffix}`,
        },
        targetValue: settings.scaling.requestsPerTarget,
      }),
    );
  }
  return { target, policies };
}
