/**
 * The CSV export of the ticket list: the same filters, the same index Query, read page by page and turned
 * into CSV one page at a time, so memory stays flat whatever the export's size. First responses come from the
 * ticket item (stamped when the reply was stored, pending time excluded: the figures of the analytics
 * summary); the message count and the mean response time need the conversation's types and times: read a
 * page at a time per ticket (never the texts) and folded as they come, a few tickets at once. Columns added
 * over time go at the end, so that existing readers of the file keep working.
 */

import { listTarget, type TicketLists } from '../tickets/lists.js';
import { ResponseTimesFold, ticketResponseTimes } from '../tickets/metrics.js';
import type { TicketItem, TicketRepository } from '../tickets/repository.js';
import { pendingSecondsAt } from '../tickets/rules.js';
import { type Cell, csvRow, UTF8_BOM } from './csv.js';
import type { ExportQuery } from './model.js';

export const EXPORT_COLUMNS = [
  'ticket_id',
  'created_at',
  'closed_at',
  'status',
  'channel',
  'sentiment',
  'category',
  'urgency',
  'summary',
  'messages_count',
  'resolution_seconds',
  'resolution_hours',
  'first_response_seconds',
  'avg_response_seconds',
  'assigned_to',
  'churn_risk',
  'priority',
  'tags',
  'customer_name',
  'customer_email',
  'pending_seconds',
  'first_assistant_response_seconds',
] as const;

/** Tags in one cell (tags never hold it). */
export const TAG_SEPARATOR = ';';

export interface ExportOptions {
  /** Tickets per index Query page (and per CSV chunk). */
  pageSize?: number;
  /** Conversation Queries in flight at once. */
  concurrency?: number;
  /** The running pending period of a pending ticket is counted up to now. */
  clock?: () => Date;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class TicketExport {
  private readonly pageSize: number;
  private readonly concurrency: number;
  private readonly clock: () => Date;

  constructor(
    private readonly repo: TicketRepository,
    private readonly lists: TicketLists,
    { pageSize = 100, concurrency = 8, clock = () => new Date() }: ExportOptions = {},
  ) {
    this.pageSize = pageSize;
    this.concurrency = concurrency;
    this.clock = clock;
  }

  private async row(ticket: TicketItem): Promise<Cell[]> {
    // Folded page by page, in time order: a long conversation is never held whole.
    const fold = new ResponseTimesFold(ticket.created_at);
    for await (const page of this.repo.messagePages(ticket.ticket_id, ['type', 'created_at'])) {
      for (const m of page) fold.add(m);
    }
    const times = fold.result();
    const stored = ticketResponseTimes(ticket);
    const a = ticket.analytics;
    const resolution = ticket.resolution_seconds;
    const pending = pendingSecondsAt(ticket, this.clock().toISOString());
    return [
      ticket.ticket_id,
      ticket.created_at,
      ticket.closed_at,
      ticket.status,
      ticket.channel,
      a?.sentiment,
      a?.category,
      a?.urgency,
      a?.summary,
      fold.count,
      resolution,
      resolution === undefined ? undefined : (resolution / 3600).toFixed(2),
      // An item without stored figures is a migrated one nobody has answered since: no ticket could be pending
      // then, so its conversation's first agent reply is exact.
      stored.agent ?? times.first_response_seconds,
      times.avg_response_seconds,
      ticket.assigned_to,
      a?.churn_risk,
      ticket.priority,
      (ticket.tags ?? []).join(TAG_SEPARATOR),
      ticket.customer_name,
      ticket.customer_email,
      pending,
      stored.assistant,
    ];
  }

  /** The CSV text, one chunk per page of tickets (the first chunk holds the BOM and the header row). */
  async *csv(query: ExportQuery): AsyncGenerator<string> {
    // Every combination of these filters has its index (api/db/tables.ts).
    const target = listTarget(query);
    if (!target) throw new Error('no list index for the export filters');
    const pages = this.lists.pages(target, { pageSize: this.pageSize });
    let chunk = `${query.bom ? UTF8_BOM : ''}${csvRow(EXPORT_COLUMNS)}`;
    for await (const page of pages) {
      const rows = await mapLimit(page, this.concurrency, (t) => this.row(t));
      chunk += rows.map(csvRow).join('');
      yield chunk;
      chunk = '';
    }
    if (chunk) yield chunk;
  }
}
