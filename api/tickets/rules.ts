/**
 * Status and field rules, as pure functions: what a change does to a ticket, and which history events it
 * records. Closing stamps `closed_at` and `resolution_seconds`; reopening clears them.
 */
import type { Priority, Status } from './model.js';

export interface TicketState {
  status: Status;
  priority: Priority;
  assigned_to?: string;
  tags: string[];
  created_at: string;
  closed_at?: string;
}

/** What an event changed: a status, priority or assignee, or the list of tags. */
export type EventValue = string | string[];

export interface StoredEvent {
  type: 'status_changed' | 'assigned' | 'priority_changed' | 'tags_changed';
  at: string;
  by: string;
  from?: EventValue;
  to?: EventValue;
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
  events: StoredEvent[];
}

export function resolutionSeconds(createdAt: string, closedAt: string): number {
  return Math.max(0, Math.round((Date.parse(closedAt) - Date.parse(createdAt)) / 1000));
}

/** The attribute changes and events for `changes` applied to `current` by `actor` at `now`. */
export function planChange(current: TicketState, changes: FieldChanges, actor: string, now: string): Change {
  const change: Change = { set: {}, remove: [], events: [] };
  const event = (type: StoredEvent['type'], from: EventValue | undefined, to: EventValue | undefined) =>
    change.events.push({
      type,
      at: now,
      by: actor,
      ...(from !== undefined && { from }),
      ...(to !== undefined && { to }),
    });

  if (changes.status !== undefined && changes.status !== current.status) {
    change.set.status = changes.status;
    if (changes.status === 'closed') {
      change.set.closed_at = now;
      change.set.resolution_seconds = resolutionSeconds(current.created_at, now);
    } else if (current.status === 'closed') {
      change.remove.push('closed_at', 'resolution_seconds');
    }
    event('status_changed', current.status, changes.status);
  }
  if (changes.priority !== undefined && changes.priority !== current.priority) {
    change.set.priority = changes.priority;
    event('priority_changed', current.priority, changes.priority);
  }
  if (changes.assigned_to !== undefined && changes.assigned_to !== (current.assigned_to ?? null)) {
    if (changes.assigned_to === null) change.remove.push('assigned_to');
    else change.set.assigned_to = changes.assigned_to;
    event('assigned', current.assigned_to, changes.assigned_to ?? undefined);
  }
  if (changes.tags !== undefined) {
    const tags = [...new Set(changes.tags)].sort();
    if (tags.join(',') !== [...current.tags].sort().join(',')) {
      change.set.tags = tags;
      event('tags_changed', current.tags, tags);
    }
  }
  return change;
}

export const isNoop = (c: Change) => Object.keys(c.set).length === 0 && c.remove.length === 0;
