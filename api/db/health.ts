/** Does every table answer? One DescribeTable each, under a short deadline of its own. */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

export async function checkTables(client: DynamoDBClient, tableNames: string[], timeoutMs: number): Promise<void> {
  await Promise.all(
    tableNames.map(async (name) => {
      const out = await client.send(new DescribeTableCommand({ TableName: name }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      });
      if (out.Table?.TableStatus !== 'ACTIVE' && out.Table?.TableStatus !== 'UPDATING') {
        throw new Error(`table ${name} is ${out.Table?.TableStatus}`);
      }
    }),
  );
}

/** AWS's answers to too many control-plane calls: the tables are there, the account is rate limited. */
const THROTTLED = new Set(['ThrottlingException', 'LimitExceededException', 'RequestLimitExceeded']);
export const isThrottled = (err: unknown) => err instanceof Error && THROTTLED.has(err.name);

/**
 * The table check, run at most once per `intervalMs` per task whatever the number of health requests
 * (unauthenticated callers and the ALB cannot turn them into DescribeTable calls); callers arriving while a
 * check runs share it. The outcome, success or failure, is reused until the interval is over.
 */
export function cachedCheck(
  check: () => Promise<void>,
  intervalMs: number,
  now: () => number = Date.now,
): () => Promise<void> {
  let last: { at: number; outcome: Promise<void> } | undefined;
  return () => {
    if (intervalMs <= 0) return check();
    if (last && now() - last.at < intervalMs) return last.outcome;
    const outcome = check();
    // Settled either way; a rejection is observed by whoever awaits it.
    outcome.catch(() => undefined);
    last = { at: now(), outcome };
    return outcome;
  };
}
