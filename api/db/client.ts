/**
 * The one DynamoDB client of the process. The SDK retries (standard mode); every attempt has a connection
 * and a request deadline that actually aborts (`throwOnRequestTimeout`), so a stalled endpoint turns into a
 * TimeoutError -> 503 instead of a hanging request.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DynamoClientOptions {
  /** Explicit endpoint (DynamoDB Local on a laptop and in tests); absent on AWS. */
  endpoint?: string;
  region?: string;
  /** Deadline of one attempt; with retries a call gives up after about maxAttempts times this. */
  timeoutMs: number;
  /**
   * Deadline to open a connection; default the smaller of `timeoutMs` and 1 s (a healthy endpoint accepts in
   * milliseconds). Test and operator tools on a loaded machine, whose event loop can lag by more than that,
   * pass a longer one so that a busy machine is not mistaken for an unreachable endpoint.
   */
  connectTimeoutMs?: number;
  maxAttempts?: number;
}

export interface DynamoClients {
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
}

export function createDynamoClients({
  endpoint,
  region,
  timeoutMs,
  connectTimeoutMs = Math.min(timeoutMs, 1000),
  maxAttempts = 3,
}: DynamoClientOptions): DynamoClients {
  const client = new DynamoDBClient({
    ...(endpoint && {
      endpoint,
      // Local engines accept any credentials; fixed ones keep a developer's AWS profile out of it.
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    region: region ?? (endpoint ? 'local' : undefined),
    maxAttempts,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: connectTimeoutMs,
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
    },
  });
  const doc = DynamoDBDocumentClient.from(client, {
    // Optional attributes are simply absent; classes (Date...) are refused rather than silently stored as {}.
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { client, doc };
}
