/** Helpers for the export and analytics tests: tickets written straight to the table, a CSV reader. */
import { randomBytes } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { TICKET_SK } from '../../api/db/tables.js';
import { EventLog } from '../../api/events/log.js';
import { TicketLists } from '../../api/tickets/lists.js';
import type { Analytics, Channel, MessageType, Status } from '../../api/tickets/model.js';
import { messageSortKey, type TicketItem, TicketRepository } from '../../api/tickets/repository.js';
import type { Harness } from './harness.js';

export interface SeedTicket {
  id: string;
  created_at: string;
  status?: Status;
  channel?: Channel;
  assigned_to?: string;
  closed_at?: string;
  resolution_seconds?: number;
  analytics?: Partial<Analytics>;
  first_response_at?: string;
  /** Any other stored attribute (response times, pending time, customer, tags...). */
  fields?: Partial<TicketItem>;
  /** Conversation as [type, created_at], one message item each. */
  messages?: Array<[MessageType, string]>;
}

/** A ticket id of the `FRE-` form. */
export const seedId = () => `FRE-${randomBytes(4).toString('hex').toUpperCase()}`;

export function ticketsRepository(h: Harness): TicketRepository {
  return new TicketRepository(
    h.runtime.dynamo.doc,
    h.tables.tickets,
    new EventLog(h.runtime.dynamo.doc, h.tables.events, 30),
  );
}

export function ticketLists(h: Harness): TicketLists {
  return new TicketLists(h.runtime.dynamo.doc, h.tables.tickets);
}

export async function seed(h: Harness, tickets: SeedTicket[]): Promise<void> {
  for (const t of tickets) {
    const item: TicketItem = {
      ticket_id: t.id,
      sk: TICKET_SK,
      status: t.status ?? 'new',
      priority: 'normal',
      channel: t.channel ?? 'chat',
      ...(t.assigned_to && { assigned_to: t.assigned_to }),
      tags: [],
      created_at: t.created_at,
      updated_at: t.closed_at ?? t.created_at,
      ...(t.closed_at && { closed_at: t.closed_at }),
      ...(t.resolution_seconds !== undefined && { resolution_seconds: t.resolution_seconds }),
      ...(t.analytics && {
        analytics: {
          sentiment: 'neutral',
          category: 'other',
          urgency: 'medium',
          churn_risk: 0,
          summary: '',
          next_action: '',
          analyzed_at: t.created_at,
          ...t.analytics,
        } as Analytics,
      }),
      ...(t.first_response_at && { first_response_at: t.first_response_at }),
      version: 1,
      ...t.fields,
    };
    await h.runtime.dynamo.doc.send(
      new PutCommand({
        TableName: h.tables.tickets,
        Item: TicketRepository.withIndexAttributes(item),
        ConditionExpression: 'attribute_not_exists(ticket_id)',
      }),
    );
    let n = 0;
    for (const [type, at] of t.messages ?? []) {
      const message_id = `${t.id}-${++n}`;
      await h.runtime.dynamo.doc.send(
        new PutCommand({
          TableName: h.tables.tickets,
          Item: {
            ticket_id: t.id,
            sk: messageSortKey(at, message_id),
            message_id,
            type,
            content: 'text',
            author_name: 'someone',
            created_at: at,
          },
        }),
      );
    }
  }
}

/** RFC 4180 reader (quoted fields, doubled quotes, CRLF), for checking what the export wrote. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) throw new Error('CSV does not end with CRLF');
  return rows;
}

/** Records the DynamoDB commands the service sends (name and input) while `fn` runs. */
export async function recordCommands<T>(
  h: Harness,
  fn: () => Promise<T>,
  intercept?: (name: string, input: Record<string, unknown>) => void,
): Promise<{ result: T; commands: Array<{ name: string; input: Record<string, unknown> }> }> {
  const commands: Array<{ name: string; input: Record<string, unknown> }> = [];
  const name = `record-${Math.random()}`;
  const middleware =
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: Record<string, unknown> }) => {
      commands.push({ name: String(context.commandName), input: args.input });
      intercept?.(String(context.commandName), args.input);
      return next(args);
    };
  h.runtime.dynamo.client.middlewareStack.add(middleware as never, { step: 'initialize', name });
  try {
    return { result: await fn(), commands };
  } finally {
    h.runtime.dynamo.client.middlewareStack.remove(name);
  }
}
