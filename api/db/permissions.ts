/**
 * The DynamoDB actions the service performs on its tables and their indexes. The task role in the Pulumi
 * program grants exactly these; a repository that starts using another action must add it here.
 * TransactWriteItems needs no action of its own: each of its items is allowed by its Put, Update, Delete or
 * ConditionCheck action.
 */
export const SERVICE_DYNAMODB_ACTIONS = [
  'dynamodb:DescribeTable', // readiness check
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem', // transactions that check the ticket without writing it (internal notes)
  'dynamodb:BatchWriteItem', // purging a deleted ticket's messages
  'dynamodb:BatchGetItem', // a list page's tickets, read by key after the (keys-only) index Query
] as const;
