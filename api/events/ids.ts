/**
 * Event ids: `<ISO 8601 time with milliseconds>#<12 hex characters>`. String order is time order, and the
 * random part keeps two events of the same millisecond apart (and readable, unlike a ULID).
 */
import { randomBytes } from 'node:crypto';

export const eventId = (at: string) => `${at}#${randomBytes(6).toString('hex')}`;

/** The feed bucket of an event: its UTC day. */
export const feedBucket = (at: string) => at.slice(0, 10);
