/**
 * The DynamoDB actions the service performs on its tables and their indexes. The task role in the Pulumi
 * program grants exactly these; a repository that starts using another action must add it here.
 */
export const SERVICE_DYNAMODB_ACTIONS = [
  'dynamodb:DescribeTable', // readiness check
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:BatchWriteItem', // deleting a ticket with its messages
] as const;
