/** Every event of one ticket, read from the event log page by page (what a test compares the API with). */
import { EventLog } from '../../api/events/log.js';
import type { TicketEvent } from '../../api/events/model.js';
import type { Harness } from './harness.js';

export async function ticketEvents(h: Harness, ticketId: string): Promise<TicketEvent[]> {
  const log = new EventLog(h.runtime.dynamo.doc, h.tables.events, 30);
  const all: TicketEvent[] = [];
  let startKey: Record<string, string> | undefined;
  do {
    const page = await log.ofTicket(ticketId, 100, startKey);
    all.push(...page.events);
    startKey = page.lastKey;
  } while (startKey);
  return all;
}
