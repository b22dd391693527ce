/**
 * The unit of work: every change to the data is one `TransactWriteItems`. Repositories return the writes of
 * a use case (`Write`, each labelled so a cancellation can say which condition failed); `commit` is the one
 * place that sends them. Its `ClientRequestToken` is derived from the request and the operation, so when an
 * answer is lost and the SDK sends the same transaction again, DynamoDB answers the retry as it answered the
 * first attempt instead of failing it on its own conditions (no false error, no duplicate).
 */
import { createHash, randomUUID } from 'node:crypto';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { currentRequestKey } from '../logger.js';

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** One write of a transaction, with a label naming it in cancellation reasons (`ticket`, `message`...). */
export interface Write {
  label: string;
  item: TransactItem;
}

/** DynamoDB's limit on the items of one transaction. */
export const MAX_TRANSACTION_ITEMS = 100;

export interface CancellationReason {
  label: string;
  /** `ConditionalCheckFailed`, `TransactionConflict`, `None`... */
  code: string;
  /** The item as it was, for a failed condition that asked for it (ReturnValuesOnConditionCheckFailure). */
  item?: Record<string, unknown>;
}

/** The transaction was refused: some condition did not hold, or another transaction held an item. */
export class TransactionCancelled extends Error {
  override name = 'TransactionCancelled';
  constructor(readonly reasons: CancellationReason[]) {
    super(`transaction cancelled: ${reasons.map((r) => `${r.label}=${r.code}`).join(', ')}`);
  }

  /** The reason of the write labelled `label`, when its condition failed. */
  failed(label: string): CancellationReason | undefined {
    return this.reasons.find((r) => r.label === label && r.code === 'ConditionalCheckFailed');
  }

  /** Only conflicts with concurrent transactions (worth retrying), no failed condition. */
  get contended(): boolean {
    return (
      this.reasons.some((r) => r.code === 'TransactionConflict') &&
      !this.reasons.some((r) => r.code === 'ConditionalCheckFailed')
    );
  }
}

/**
 * A token for one transaction of the current request: the same request, operation and attempt always give
 * the same token (at most 36 characters, DynamoDB's limit). Outside a request (worker), a fresh one.
 */
export function transactionToken(operation: string): string {
  const scope = currentRequestKey() ?? randomUUID();
  return createHash('sha256').update(scope).update('\0').update(operation).digest('base64url').slice(0, 36);
}

type Sender = { send(command: TransactWriteCommand): Promise<unknown> };

/** Sends the writes as one transaction; throws TransactionCancelled with labelled reasons when refused. */
export async function commit(doc: Sender, writes: readonly Write[], token: string): Promise<void> {
  if (writes.length === 0) return;
  if (writes.length > MAX_TRANSACTION_ITEMS)
    throw new Error(`a transaction holds at most ${MAX_TRANSACTION_ITEMS} items`);
  try {
    await doc.send(new TransactWriteCommand({ TransactItems: writes.map((w) => w.item), ClientRequestToken: token }));
  } catch (err) {
    throw classifyTransactionError(err, writes);
  }
}

/** A TransactionCanceledException becomes TransactionCancelled with each reason labelled; others pass. */
export function classifyTransactionError(err: unknown, writes: readonly Write[]): unknown {
  const e = err as { name?: string; CancellationReasons?: Array<{ Code?: string; Item?: Record<string, unknown> }> };
  if (e?.name !== 'TransactionCanceledException' || !Array.isArray(e.CancellationReasons)) return err;
  return new TransactionCancelled(
    e.CancellationReasons.map((r, i) => ({
      label: writes[i]?.label ?? String(i),
      code: r.Code ?? 'None',
      // The document client does not unmarshall the items of cancellation reasons.
      ...(r.Item && { item: unmarshall(r.Item as never) }),
    })),
  );
}
