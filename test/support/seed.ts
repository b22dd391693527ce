/**
 * Tickets written straight into the table (BatchWriteItem, 25 at a time, several batches in flight), in the
 * exact shape the repository stores: for load tests and benchmarks that need many tickets fast.
 */

import { batchWriteAll, chunks } from '../../api/db/batch.js';
import { createDynamoClients } from '../../api/db/client.js';
import { TICKET_SK } from '../../api/db/tables.js';
import { CHANNELS, STATUSES } from '../../api/tickets/model.js';
import { type TicketItem, TicketRepository } from '../../api/tickets/repository.js';

/** A ticket as the public API creates it; created `i` seconds after `base`, so list order is known. */
export function seedTicket(i: number, base = Date.UTC(2026, 0, 1)): TicketItem {
  const at = new Date(base + i * 1000).toISOString();
  return {
    ticket_id: `FRE-${i.toString(32).toUpperCase().padStart(8, '0')}`,
    sk: TICKET_SK,
    status: STATUSES[i % STATUSES.length] as TicketItem['status'],
    priority: 'normal',
    channel: CHANNELS[i % CHANNELS.length] as TicketItem['channel'],
    customer_name: `Customer ${i}`,
    tags: [],
    created_at: at,
    updated_at: at,
    version: 1,
    initial_message: {
      message_id: `m-${i}`,
      type: 'customer',
      content: `Seeded ticket number ${i}: my connection drops every evening around nine.`,
      author_name: `Customer ${i}`,
      created_at: at,
    },
  };
}

/** Writes tickets `from` .. `to - 1`; returns their ids. `onProgress` is told how many are written. */
export async function seedTickets(
  endpoint: string,
  table: string,
  {
    from = 0,
    to,
    parallel = 8,
    onProgress,
  }: { from?: number; to: number; parallel?: number; onProgress?: (n: number) => void },
): Promise<string[]> {
  const { client, doc } = createDynamoClients({ endpoint, timeoutMs: 30_000, connectTimeoutMs: 30_000 });
  const ids: string[] = [];
  const batches = chunks(
    Array.from({ length: to - from }, (_, k) => TicketRepository.withIndexAttributes(seedTicket(from + k))),
    25,
  );
  let next = 0;
  let written = 0;
  try {
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < batches.length) {
          const batch = batches[next++] as TicketItem[];
          await batchWriteAll(
            doc,
            table,
            batch.map((Item) => ({ PutRequest: { Item } })),
          );
          written += batch.length;
          onProgress?.(written);
        }
      }),
    );
    for (const batch of batches) for (const item of batch) ids.push(item.ticket_id);
  } finally {
    client.destroy();
  }
  return ids;
}
