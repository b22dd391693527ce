/**
 * Knowledge-base vectors in DynamoDB, in the tickets table's `#knowledge-base` partition: one item per FAQ
 * entry, keyed by the hash of its content and embedding model. Every task reads them all with one Query;
 * an entry is embedded only when no task has stored its hash yet.
 */
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { KNOWLEDGE_PARTITION, KNOWLEDGE_SK_PREFIX } from '../db/tables.js';

/** float32, little-endian: a 1024-dimension vector is a 4 KB binary attribute. */
export function encodeVector(vector: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((v, i) => {
    view.setFloat32(i * 4, v, true);
  });
  return bytes;
}

export function decodeVector(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: Math.floor(bytes.byteLength / 4) }, (_, i) => view.getFloat32(i * 4, true));
}

export class KnowledgeRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Every stored vector, by content hash. */
  async vectors(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'ticket_id = :p AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':p': KNOWLEDGE_PARTITION, ':prefix': KNOWLEDGE_SK_PREFIX },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const hash = String(item.sk).slice(KNOWLEDGE_SK_PREFIX.length);
        if (item.vector instanceof Uint8Array) out.set(hash, decodeVector(item.vector));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  /** Stores a vector unless another task already did (the content is the same: first one wins). */
  async put(hash: string, vector: readonly number[], meta: { question: string; model: string; at: string }) {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ticket_id: KNOWLEDGE_PARTITION,
            sk: `${KNOWLEDGE_SK_PREFIX}${hash}`,
            vector: encodeVector(vector),
            dimensions: vector.length,
            question: meta.question,
            model: meta.model,
            created_at: meta.at,
          },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (err) {
      if ((err as Error)?.name !== 'ConditionalCheckFailedException') throw err;
    }
  }
}
