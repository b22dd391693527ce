/** Ticket ids and customer access tokens. */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** Crockford base32: no I, L, O, U, so an id read aloud on the phone is not mistaken. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `FRE-` + 8 random characters (40 bits). Uniqueness is enforced by the conditional put, not by chance. */
export function newTicketId(): string {
  let id = 'FRE-';
  for (let i = 0; i < 8; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return id;
}

/** A customer's bearer token for one ticket: 256 random bits, shown once, stored only as a hash. */
export function newAccessToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** High-entropy tokens need no slow KDF: SHA-256 makes the stored value useless to a reader of the table. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison of a presented token with a stored hash. */
export function tokenMatches(token: string, storedHash: string | undefined): boolean {
  if (!storedHash) return false;
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
