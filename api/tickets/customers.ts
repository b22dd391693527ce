/**
 * A customer's identities on a ticket (external id, e-mail, phone) and the one key each is looked up by, so
 * that `GET /v1/tickets?customer=` finds a customer's tickets by any of them without knowing which it is.
 */

/** A phone number as stored: `+` and its digits, spaces, dashes, dots and parentheses removed. */
export function normalisePhone(phone: string): string {
  return `+${phone.replace(/\D/g, '')}`;
}

const PHONE_LIKE = /^\+?[\d\s().-]+$/;

/**
 * The lookup key of any identity: e-mail addresses in lower case, anything that reads as a phone number
 * (digits with optional `+`, spaces, dashes, dots, parentheses; at least 6 digits) as `+<digits>`, anything
 * else (an external id) as given. The same function keys the stored identities and the query, so an
 * external id written `06 12 34 56 78` is found as `0612345678` too.
 */
export function customerKey(identity: string): string {
  const value = identity.trim();
  if (value.includes('@')) return value.toLowerCase();
  if (PHONE_LIKE.test(value) && value.replace(/\D/g, '').length >= 6) return normalisePhone(value);
  return value;
}

/** The distinct lookup keys of a ticket's customer. */
export function customerKeys(ticket: {
  customer_external_id?: string;
  customer_email?: string;
  customer_phone?: string;
}): string[] {
  const identities = [ticket.customer_external_id, ticket.customer_email, ticket.customer_phone];
  return [...new Set(identities.filter((i): i is string => !!i && i.trim() !== '').map(customerKey))];
}
