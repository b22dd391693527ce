/**
 * Opaque, tamper-proof list cursors: base64url(JSON) + "." + HMAC-SHA256. The payload binds the position to
 * the query it came from (index and filters), so a cursor can neither be forged nor replayed on another query.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { badRequest } from '../errors.js';

interface CursorPayload {
  v: 1;
  /** Fingerprint of the query (index, filters, range). */
  q: string;
  /** DynamoDB ExclusiveStartKey. */
  k: Record<string, string>;
}

export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  encode(query: string, startKey: Record<string, string>): string {
    const body = Buffer.from(JSON.stringify({ v: 1, q: query, k: startKey } satisfies CursorPayload)).toString(
      'base64url',
    );
    return `${body}.${this.sign(body)}`;
  }

  /** The start key, if the cursor is intact, was issued for this query and has exactly the expected keys. */
  decode(cursor: string, query: string, expectedKeys: string[]): Record<string, string> {
    const invalid = () =>
      badRequest('cursor is invalid or belongs to another query', [{ path: 'query.cursor', message: 'invalid' }]);
    const [body, mac, extra] = cursor.split('.');
    if (!body || !mac || extra !== undefined) throw invalid();
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalid();
    let payload: CursorPayload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw invalid();
    }
    const keys = Object.keys(payload?.k ?? {}).sort();
    const shapeOk =
      payload.v === 1 &&
      payload.q === query &&
      keys.join(',') === [...expectedKeys].sort().join(',') &&
      Object.values(payload.k).every((v) => typeof v === 'string');
    if (!shapeOk) throw invalid();
    return payload.k;
  }
}
