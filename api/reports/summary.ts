/**
 * The analytics summary of the tickets created in a time range. One index Query over the range on the
 * unfiltered list index (key condition on created_at, never a Scan), reading only the attributes it needs,
 * folded page by page. The cost is bounded twice: the range is at most MAX_RANGE_DAYS long, and a range
 * holding more than MAX_TICKETS tickets is refused (400) once that many have been read. See docs/analytics.md.
 */
import { AppError, badRequest } from '../errors.js';
import { type ListTarget, listTarget, type TicketLists } from '../tickets/lists.js';
import { median, percentile, RESPONSE_TIME_ATTRIBUTES, ticketResponseTimes } from '../tickets/metrics.js';
import { CATEGORIES, CHANNELS, SENTIMENTS, STATUSES, URGENCIES } from '../tickets/model.js';
import type { AnalyticsSummary, SummaryQuery } from './model.js';

export const DEFAULT_RANGE_DAYS = 30;
export const MAX_RANGE_DAYS = 92;
export const MAX_TICKETS = 20_000;
export const MAX_ALERTS_LISTED = 50;

const DAY_MS = 86_400_000;
const ATTRIBUTES = [
  'ticket_id',
  'status',
  'channel',
  'assigned_to',
  'analytics',
  'resolution_seconds',
  ...RESPONSE_TIME_ATTRIBUTES,
] as const;

/** What is folded per assignee: counts and the two arrays of seconds the medians need. */
interface AssigneeFold {
  tickets: number;
  byStatus: Record<(typeof STATUSES)[number], number>;
  firstResponses: number[];
  resolutions: number[];
}

const zeros = <T extends readonly string[]>(values: T) =>
  Object.fromEntries(values.map((v) => [v, 0])) as Record<T[number], number>;

function bump<K extends string>(counts: Record<K, number>, key: string | undefined) {
  if (key !== undefined && key in counts) counts[key as K]++;
}

const distribution = (values: number[]) => ({
  count: values.length,
  median: median(values) ?? null,
  p90: percentile(values, 90) ?? null,
});

export interface SummaryOptions {
  clock?: () => Date;
  /** Tickets one summary may read (MAX_TICKETS). */
  maxTickets?: number;
  /** Items per index Query page. */
  pageSize?: number;
}

export class AnalyticsSummaryService {
  private readonly clock: () => Date;
  private readonly maxTickets: number;
  private readonly pageSize: number;

  constructor(
    private readonly lists: TicketLists,
    { clock = () => new Date(), maxTickets = MAX_TICKETS, pageSize = 1000 }: SummaryOptions = {},
  ) {
    this.clock = clock;
    this.maxTickets = maxTickets;
    this.pageSize = pageSize;
  }

  /** The range actually used: defaults filled in, length checked. */
  range(query: SummaryQuery): { from: string; to: string } {
    const to = query.created_to ?? this.clock().toISOString();
    const from = query.created_from ?? new Date(Date.parse(to) - DEFAULT_RANGE_DAYS * DAY_MS).toISOString();
    if (from > to) {
      throw badRequest('created_from must not be after created_to', [
        { path: 'query.created_from', message: 'after created_to' },
      ]);
    }
    if (Date.parse(to) - Date.parse(from) > MAX_RANGE_DAYS * DAY_MS) {
      throw badRequest(`The range is at most ${MAX_RANGE_DAYS} days; ask for several ranges`, [
        { path: 'query.created_from', message: `more than ${MAX_RANGE_DAYS} days before created_to` },
      ]);
    }
    return { from, to };
  }

  async summary(query: SummaryQuery): Promise<AnalyticsSummary> {
    const { from, to } = this.range(query);
    const byStatus = zeros(STATUSES);
    const byChannel = zeros(CHANNELS);
    const byCategory = zeros(CATEGORIES);
    const bySentiment = zeros(SENTIMENTS);
    const byUrgency = zeros(URGENCIES);
    const resolutions: number[] = [];
    const firstResponses: number[] = [];
    const assistantResponses: number[] = [];
    const byAssignee = new Map<string | null, AssigneeFold>();
    const alerts: AnalyticsSummary['open_churn_alerts']['tickets'] = [];
    let tickets = 0;
    let analyzed = 0;

    const target = listTarget({ created_from: from, created_to: to }) as ListTarget;
    const pages = this.lists.pages(target, { pageSize: this.pageSize, attributes: ATTRIBUTES });
    for await (const page of pages) {
      tickets += page.length;
      if (tickets > this.maxTickets) {
        throw new AppError(
          400,
          'range_too_large',
          `More than ${this.maxTickets} tickets were created in this range; narrow it`,
          [{ path: 'query.created_from', message: `at most ${this.maxTickets} tickets per summary` }],
        );
      }
      for (const t of page) {
        bump(byStatus, t.status);
        bump(byChannel, t.channel);
        const a = t.analytics;
        if (a) {
          analyzed++;
          bump(byCategory, a.category);
          bump(bySentiment, a.sentiment);
          bump(byUrgency, a.urgency);
          if (a.alert === 'urgent_retention' && t.status !== 'closed') {
            alerts.push({
              ticket_id: t.ticket_id,
              status: t.status,
              churn_risk: a.churn_risk,
              created_at: t.created_at,
            });
          }
        }
        const assignee = t.assigned_to ?? null;
        let mine = byAssignee.get(assignee);
        if (!mine) {
          mine = { tickets: 0, byStatus: zeros(STATUSES), firstResponses: [], resolutions: [] };
          byAssignee.set(assignee, mine);
        }
        mine.tickets++;
        bump(mine.byStatus, t.status);
        if (t.status === 'closed' && typeof t.resolution_seconds === 'number') {
          resolutions.push(t.resolution_seconds);
          mine.resolutions.push(t.resolution_seconds);
        }
        const response = ticketResponseTimes(t);
        if (response.agent !== undefined) {
          firstResponses.push(response.agent);
          mine.firstResponses.push(response.agent);
        }
        if (response.assistant !== undefined) assistantResponses.push(response.assistant);
      }
    }
    const assignees = [...byAssignee.entries()]
      .sort(
        ([a, x], [b, y]) =>
          Number(a === null) - Number(b === null) || y.tickets - x.tickets || String(a).localeCompare(String(b)),
      )
      .map(([assignee, f]) => ({
        assigned_to: assignee,
        tickets: f.tickets,
        by_status: f.byStatus,
        first_response_seconds: distribution(f.firstResponses),
        resolution_seconds: distribution(f.resolutions),
      }));
    alerts.sort((a, b) => b.churn_risk - a.churn_risk || b.created_at.localeCompare(a.created_at));
    return {
      created_from: from,
      created_to: to,
      tickets,
      by_status: byStatus,
      by_channel: byChannel,
      analyzed,
      by_category: byCategory,
      by_sentiment: bySentiment,
      by_urgency: byUrgency,
      open_churn_alerts: { count: alerts.length, tickets: alerts.slice(0, MAX_ALERTS_LISTED) },
      resolution_seconds: distribution(resolutions),
      first_response_seconds: distribution(firstResponses),
      first_assistant_response_seconds: distribution(assistantResponses),
      by_assignee: assignees,
    };
  }
}
