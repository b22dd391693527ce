/**
 * Status and field rules, as pure functions: what a change does to a ticket, and which fields it moved (the
 * `changes` of its event). Closing stamps `closed_at` and `resolution_seconds`; reopening clears them.
 * Entering `pending` (waiting for the customer) stamps `pending_since`; leaving it adds the time spent to
 * `pending_seconds`, which response metrics subtract: the clock of the support team stops while it waits.
 */
import type { FieldChange } from '../events/model.js';
import type { Priority, Status } from './model.js';

export interface TicketState {
  status: Status;
  priority: Priority;
  assigned_to?: string;
  tags: string[];
  created_at: string;
  closed_at?: string;
  /** Present while the ticket is pending. */
  pending_since?: string;
  /** Seconds spent pending in finished pending periods. */
  pending_seconds?: number;
}

export interface FieldChanges {
  status?: Status;
  priority?: Priority;
  /** null unassigns. */
  assigned_to?: string | null;
  tags?: string[];
}

export interface Change {
  set: Record<string, unknown>;
  remove: string[];
  /** The fields it moves, before and after (absent values are null). */
  changes: Record<string, FieldChange>;
}

const seconds = (from: string, to: string) => Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

/** Creation to closing, minus the time spent pending. */
export function resolutionSeconds(createdAt: string, closedAt: string, pendingSeconds = 0): number {
  return Math.max(0, seconds(createdAt, closedAt) - pendingSeconds);
}

/** Every second the ticket spent pending up to `at`, the running pending period included. */
export function pendingSecondsAt(state: Pick<TicketState, 'pending_since' | 'pending_seconds'>, at: string): number {
  return (state.pending_seconds ?? 0) + (state.pending_since ? seconds(state.pending_since, at) : 0);
}

/** The window in which a customer's message reopens a closed ticket; after it, a new ticket is needed. */
export function withinReopenWindow(closedAt: string | undefined, now: string, windowDays: number): boolean {
  if (!closedAt) return false;
  return Date.parse(now) - Date.parse(closedAt) < windowDays * 86_400_000;
}

/** True when the change takes a closed ticket back to work. */
export const reopens = (c: Change) => (c.changes.status?.before ?? null) === 'closed';

/** The attribute changes for `changes` applied to `current` at `now`. */
export function planChange(current: TicketState, changes: FieldChanges, now: string): Change {
  const change: Change = { set: {}, remove: [], changes: {} };
  const moved = (field: string, before: unknown, after: unknown) => {
    change.changes[field] = { before: before ?? null, after: after ?? null };
  };

  if (changes.status !== undefined && changes.status !== current.status) {
    change.set.status = changes.status;
    let pending = current.pending_seconds ?? 0;
    if (current.status === 'pending') {
      pending = pendingSecondsAt(current, now);
      change.set.pending_seconds = pending;
      change.remove.push('pending_since');
    }
    if (changes.status === 'pending') change.set.pending_since = now;
    if (changes.status === 'closed') {
      change.set.closed_at = now;
      change.set.resolution_seconds = resolutionSeconds(current.created_at, now, pending);
    } else if (current.status === 'closed') {
      change.remove.push('closed_at', 'resolution_seconds');
    }
    moved('status', current.status, changes.status);
  }
  if (changes.priority !== undefined && changes.priority !== current.priority) {
    change.set.priority = changes.priority;
    moved('priority', current.priority, changes.priority);
  }
  if (changes.assigned_to !== undefined && changes.assigned_to !== (current.assigned_to ?? null)) {
    if (changes.assigned_to === null) change.remove.push('assigned_to');
    else change.set.assigned_to = changes.assigned_to;
    moved('assigned_to', current.assigned_to, changes.assigned_to);
  }
  if (changes.tags !== undefined) {
    const tags = [...new Set(changes.tags)].sort();
    if (tags.join(',') !== [...current.tags].sort().join(',')) {
      change.set.tags = tags;
      moved('tags', [...current.tags].sort(), tags);
    }
  }
  return change;
}

export const isNoop = (c: Change) => Object.keys(c.set).length === 0 && c.remove.length === 0;
