/** Query and response schemas of the export and the analytics summary (validation and OpenAPI). */
import { z } from 'zod';
import {
  CATEGORIES,
  CHANNELS,
  ListQuery,
  SENTIMENTS,
  STATUSES,
  TicketId,
  Timestamp,
  URGENCIES,
} from '../tickets/model.js';

const { cursor: _cursor, limit: _limit, ...listFilters } = ListQuery.shape;

const rangeInOrder = (q: { created_from?: string; created_to?: string }) =>
  !q.created_from || !q.created_to || q.created_from <= q.created_to;
const RANGE_ORDER = { message: 'created_from must not be after created_to', path: ['created_from'] };

/** The list's filters (no cursor, no page size: the export streams every matching ticket). */
export const ExportQuery = z
  .strictObject({
    ...listFilters,
    bom: z
      .preprocess(
        (v) => (v === 'true' ? true : v === 'false' ? false : v),
        z.boolean({ error: 'bom is true or false' }),
      )
      .default(true)
      .meta({ description: 'Start with a UTF-8 byte order mark so that Excel reads accents right' }),
  })
  .refine(rangeInOrder, RANGE_ORDER);
export type ExportQuery = z.infer<typeof ExportQuery>;

export const SummaryQuery = z
  .strictObject({
    created_from: listFilters.created_from.meta({
      description: 'Start of the range (default: created_to - 30 days); not after created_to (400 otherwise)',
    }),
    created_to: listFilters.created_to.meta({ description: 'End of the range (default: now)' }),
  })
  .refine(rangeInOrder, RANGE_ORDER);
export type SummaryQuery = z.infer<typeof SummaryQuery>;

const counts = <T extends readonly string[]>(values: T) =>
  z.object(Object.fromEntries(values.map((v) => [v, z.number().int()])) as Record<T[number], z.ZodNumber>);

const Distribution = z
  .object({
    count: z.number().int().meta({ description: 'How many tickets have the figure' }),
    median: z.number().nullable(),
    p90: z.number().nullable(),
  })
  .meta({ id: 'Distribution' });

export const AnalyticsSummary = z
  .object({
    created_from: Timestamp,
    created_to: Timestamp,
    tickets: z.number().int(),
    by_status: counts(STATUSES),
    by_channel: counts(CHANNELS),
    analyzed: z.number().int().meta({ description: 'Tickets with an analysis; the next three counts cover these' }),
    by_category: counts(CATEGORIES),
    by_sentiment: counts(SENTIMENTS),
    by_urgency: counts(URGENCIES),
    open_churn_alerts: z.object({
      count: z.number().int(),
      tickets: z
        .array(
          z.object({
            ticket_id: TicketId,
            status: z.enum(STATUSES),
            churn_risk: z.number().int(),
            created_at: Timestamp,
          }),
        )
        .meta({ description: 'The highest churn risks first, at most 50' }),
    }),
    resolution_seconds: Distribution.meta({
      description: 'Closed tickets: creation to closing, time spent pending excluded',
    }),
    first_response_seconds: Distribution.meta({
      description:
        "Tickets an agent answered: creation to the first agent reply, time spent pending excluded (the assistant's answers and its acknowledgement are not responses)",
    }),
    first_assistant_response_seconds: Distribution.meta({
      description:
        'Tickets the assistant answered: creation to its first real answer (a smart or model reply; never the acknowledgement that an agent will answer)',
    }),
    by_assignee: z
      .array(
        z
          .object({
            assigned_to: z.string().nullable().meta({ description: 'The assignee e-mail; null: unassigned tickets' }),
            tickets: z.number().int(),
            by_status: counts(STATUSES),
            first_response_seconds: Distribution,
            resolution_seconds: Distribution,
          })
          .meta({ id: 'AssigneeSummary' }),
      )
      .meta({ description: 'Per current assignee (unassigned tickets last), most tickets first' }),
  })
  .meta({ id: 'AnalyticsSummary' });
export type AnalyticsSummary = z.infer<typeof AnalyticsSummary>;
