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
