/**
 * Event ids: `<ISO 8601 time with milliseconds>#<12 hex characters>`. String order is time order, and the
 * random part keeps two events of the same millisecond apart (and readable, unlike a ULID). Within one process
 * the ids of one millisecond increase (the way a monotonic ULID does): the events of one change, such as a
 * message and the reopening it causes, sort in the order they were made.
 */
import { randomBytes } from 'node:crypto';

/** 47 random bits: room to count up within a millisecond without ever reaching 12 hex digits' limit. */
const randomPart = () => randomBytes(6).readUIntBE(0, 6) % 2 ** 47;

let lastAt = '';
let lastPart = 0;

export function eventId(at: string): string {
  lastPart = at === lastAt ? lastPart + 1 : randomPart();
  lastAt = at;
  return `${at}#${lastPart.toString(16).padStart(12, '0')}`;
}

/** The feed bucket of an event: its UTC day. */
export const feedBucket = (at: string) => at.slice(0, 10);
