/**
 * The two roles of the service's tasks, each with exactly what it needs.
 * - Task role (the service's own AWS calls): SERVICE_DYNAMODB_ACTIONS on the tables and their indexes, the
 *   table key through DynamoDB only, sns:Publish on the alerts topic. Nothing else, no wildcard action.
 * - Execution role (ECS agent: pull the image, write logs, fetch secrets): the AWS-managed execution policy
 *   plus secretsmanager:GetSecretValue on exactly the service's secrets and kms:Decrypt of their key through
 *   Secrets Manager only.
 * The documents are built by pure functions so tests and reviews read the exact JSON.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { SERVICE_DYNAMODB_ACTIONS } from '../api/db/permissions.js';

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** The ARNs an index query is authorised on: the table and every one of its indexes. */
export const tableResources = (tableArn: string) => [tableArn, `${tableArn}/index/*`];

export const DYNAMODB_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

export function taskRolePolicy(args: {
  tableArns: string[];
  alertsTopicArn: string;
  kmsKeyArn: string;
  region: string;
}): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ServiceTables',
        Effect: 'Allow',
        Action: [...SERVICE_DYNAMODB_ACTIONS],
        Resource: args.tableArns.flatMap(tableResources),
      },
      {
        Sid: 'TableKeyThroughDynamoDB',
        Effect: 'Allow',
        Action: DYNAMODB_KEY_ACTIONS,
        Resource: [args.kmsKeyArn],
        Condition: { StringEquals: { 'kms:ViaService': `dynamodb.${args.region}.amazonaws.com` } },
      },
      {
        Sid: 'PublishAlerts',
        Effect: 'Allow',
        Action: ['sns:Publish'],
        Resource: [args.alertsTopicArn],
      },
    ],
  };
}

export function executionRolePolicy(args: { secretArns: string[]; kmsKeyArn: string; region: string }): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadServiceSecrets',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [...args.secretArns],
      },
      {
        Sid: 'DecryptSecretsThroughSecretsManager',
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: [args.kmsKeyArn],
        Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${args.region}.amazonaws.com` } },
      },
    ],
  };
}

/**
 * Trust of the task role: ECS tasks of this account and region only (the confused-deputy conditions the
 * ECS documentation gives for task roles).
 */
export function taskRoleTrustPolicy(accountId: string, region: string) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'ecs-tasks.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': accountId },
          ArnLike: { 'aws:SourceArn': `arn:aws:ecs:${region}:${accountId}:*` },
        },
      },
    ],
  };
}

/** Trust of the execution role, assumed by the ECS agent when it starts a task (AWS's standard trust). */
export const EXECUTION_ROLE_TRUST_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};

export interface RolesTier {
  taskRole: aws.iam.Role;
  executionRole: aws.iam.Role;
  /** Policies of both roles: tasks must not start before they are attached. */
  grants: pulumi.Resource[];
}

export function createRoles(args: {
  region: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  tableArns: pulumi.Input<string>[];
  alertsTopicArn: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  secretArns: pulumi.Input<string>[];
}): RolesTier {
  const taskRole = new aws.iam.Role('task', {
    description: 'Freeda service tasks: tables, their key through DynamoDB, alerts topic',
    assumeRolePolicy: pulumi
      .all([args.accountId, args.region])
      .apply(([accountId, region]) => JSON.stringify(taskRoleTrustPolicy(accountId, region))),
  });
  const taskPolicy = new aws.iam.RolePolicy('task', {
    role: taskRole.id,
    policy: pulumi
      .all([pulumi.all(args.tableArns), args.alertsTopicArn, args.kmsKeyArn, args.region])
      .apply(([tableArns, alertsTopicArn, kmsKeyArn, region]) =>
        JSON.stringify(taskRolePolicy({ tableArns, alertsTopicArn, kmsKeyArn, region })),
      ),
  });

  const executionRole = new aws.iam.Role('execution', {
    description: 'ECS agent for the Freeda tasks: image pull, logs, the service secrets',
    assumeRolePolicy: JSON.stringify(EXECUTION_ROLE_TRUST_POLICY),
  });
  const managed = new aws.iam.RolePolicyAttachment('execution-managed', {
    role: executionRole.name,
    policyArn: aws.iam.ManagedPolicy.AmazonECSTaskExecutionRolePolicy,
  });
  const secretsPolicy = new aws.iam.RolePolicy('execution-secrets', {
    role: executionRole.id,
    policy: pulumi
      .all([pulumi.all(args.secretArns), args.kmsKeyArn, args.region])
      .apply(([secretArns, kmsKeyArn, region]) =>
        JSON.stringify(executionRolePolicy({ secretArns, kmsKeyArn, region })),
      ),
  });

  return { taskRole, executionRole, grants: [taskPolicy, managed, secretsPolicy] };
}
