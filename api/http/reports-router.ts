/**
 * Managers' reports: the CSV export of the ticket list and the analytics summary.
 *
 * Mounted before the tickets router: Express matches routes in order, and `/v1/tickets/export.csv` would
 * otherwise reach `/v1/tickets/{ticket_id}` and fail its id validation.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { AuthService } from '../auth/service.js';
import { type Logger, scopedLogger } from '../logger.js';
import type { TicketExport } from '../reports/export.js';
import { EXPORT_COLUMNS } from '../reports/export.js';
import { AnalyticsSummary, ExportQuery, SummaryQuery } from '../reports/model.js';
import type { AnalyticsSummaryService } from '../reports/summary.js';
import { MAX_RANGE_DAYS, MAX_TICKETS } from '../reports/summary.js';
import { ApiRouter } from './route.js';

export interface ReportDeps {
  export: TicketExport;
  summary: AnalyticsSummaryService;
  logger: Logger;
}

export function reportsRouter(registry: OpenAPIRegistry, auth: AuthService, deps: ReportDeps) {
  return new ApiRouter(registry, auth)
    .add(
      {
        method: 'get',
        path: '/v1/tickets/export.csv',
        operationId: 'exportTickets',
        summary: 'Export the tickets matching the list filters as CSV (streamed, newest first)',
        tags: ['reports'],
        access: 'manager',
        query: ExportQuery,
        success: {
          status: 200,
          description:
            `RFC 4180 CSV, UTF-8 (with a byte order mark unless bom=false), header row: ${EXPORT_COLUMNS.join(', ')}. ` +
            "Text cells starting with = + - @, a tab or a carriage return are prefixed with ' so spreadsheets " +
            'never evaluate them. Streamed: a failure after the first bytes ends the download truncated.',
          mediaType: 'text/csv',
          headers: ['Content-Disposition'],
        },
      },
      async ({ query, req, res }) => {
        const chunks = deps.export.csv(query);
        // The first page is read before any header is sent: a failure there is still a clean JSON error.
        const first = await chunks.next();
        const day = new Date().toISOString().slice(0, 10);
        res.status(200);
        res.setHeader('Content-Type', 'text/csv; charset=utf-8');
        res.setHeader('Content-Disposition', `attachment; filename="tickets-${day}.csv"`);
        async function* rest() {
          if (!first.done) yield first.value;
          yield* chunks;
        }
        try {
          // Back-pressure from the client paces the index Queries; a client that goes away stops them.
          await pipeline(Readable.from(rest()), res);
        } catch (err) {
          // Headers are gone: no error body is possible. Ending the connection without the final chunk
          // tells the client the file is incomplete; it never waits for more.
          if (!res.destroyed) res.destroy();
          const e = err as NodeJS.ErrnoException;
          const log = scopedLogger(deps.logger);
          if (req.destroyed && e.code === 'ERR_STREAM_PREMATURE_CLOSE') log.info('export stopped by the client');
          else
            log.error('export failed after the response started; download aborted', {
              err: { name: e.name, message: e.message, stack: e.stack },
            });
        }
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/analytics/summary',
        operationId: 'getAnalyticsSummary',
        summary: `Ticket analytics over a creation range (at most ${MAX_RANGE_DAYS} days and ${MAX_TICKETS} tickets)`,
        tags: ['reports'],
        access: 'manager',
        query: SummaryQuery,
        success: { status: 200, description: 'Counts, churn alerts and response times', schema: AnalyticsSummary },
      },
      async ({ query, res }) => {
        res.json(await deps.summary.summary(query));
      },
    ).router;
}
