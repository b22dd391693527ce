/**
 * Status and field rules, as pure functions: what a change does to a ticket, and which fields it moved (the
 * `changes` of its event). Closing stamps `closed_at` and `resolution_seconds`; reopening clears them.
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

export function resolutionSeconds(createdAt: string, closedAt: string): number {
  return Math.max(0, Math.round((Date.parse(closedAt) - Date.parse(createdAt)) / 1000));
}

/** The attribute changes for `changes` applied to `current` at `now`. */
export function planChange(current: TicketState, changes: FieldChanges, now: string): Change {
  const change: Change = { set: {}, remove: [], changes: {} };
  const moved = (field: string, before: unknown, after: unknown) => {
    change.changes[field] = { before: before ?? null, after: after ?? null };
  };

  if (changes.status !== undefined && changes.status !== current.status) {
    change.set.status = changes.status;
    if (changes.status === 'closed') {
      change.set.closed_at = now;
      change.set.resolution_seconds = resolutionSeconds(current.created_at, now);
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
