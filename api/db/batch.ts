/**
 * BatchWriteItem with its one gap filled: the SDK retries failed HTTP calls, not the `UnprocessedItems`
 * of a call that succeeded, so those are resent here with capped, jittered exponential backoff.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type WriteRequest = NonNullable<
  NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]
>[number];

export interface BatchOptions {
  maxRounds?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Writes up to 25 requests to one table; throws if some remain unprocessed after `maxRounds`. */
export async function batchWriteAll(
  doc: DynamoDBDocumentClient,
  table: string,
  requests: WriteRequest[],
  { maxRounds = 8, baseDelayMs = 50, maxDelayMs = 2000 }: BatchOptions = {},
): Promise<void> {
  if (requests.length > 25) throw new Error('a batch holds at most 25 requests');
  let pending = requests;
  for (let round = 0; pending.length > 0; round++) {
    if (round >= maxRounds)
      throw new Error(`${pending.length} writes to ${table} still unprocessed after ${maxRounds} rounds`);
    if (round > 0) {
      const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** round);
      await new Promise((r) => setTimeout(r, Math.random() * cap));
    }
    const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
    pending = out.UnprocessedItems?.[table] ?? [];
  }
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
