/** Records every DynamoDB command a client sends (name and input), to prove which operations a request uses. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface SentCommand {
  name: string;
  input: Record<string, unknown>;
}

export function spyOnCommands(client: DynamoDBClient): { sent: SentCommand[]; clear(): void } {
  const sent: SentCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ name: String(context.commandName), input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: `spy-${Math.random()}` },
  );
  return { sent, clear: () => sent.splice(0) };
}
