/**
 * Device tokens for login throttling (OWASP "Slow Down Online Guessing Attacks with Device Cookies"):
 * a successful login hands the browser or tool a token naming the account and a random device id, MACed with a
 * key derived from the signing secret. A later login that presents it is counted against that device alone,
 * so an outsider's failures (which lock out unknown devices for the account) never lock out the owner.
 * Nothing is stored: the MAC proves the token was issued by us for this account.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'dv_';

export class DeviceTokens {
  constructor(private readonly key: Buffer) {}

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  issue(email: string): string {
    const body = Buffer.from(
      JSON.stringify({ e: email.toLowerCase(), d: randomBytes(16).toString('base64url') }),
    ).toString('base64url');
    return `${PREFIX}${body}.${this.mac(body)}`;
  }

  /** The device id, when the token is ours and was issued to this account; otherwise undefined. */
  deviceOf(token: unknown, email: unknown): string | undefined {
    if (typeof token !== 'string' || typeof email !== 'string' || !token.startsWith(PREFIX)) return undefined;
    const [body, mac, extra] = token.slice(PREFIX.length).split('.');
    if (!body || !mac || extra !== undefined) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { e?: unknown; d?: unknown };
      return payload.e === email.toLowerCase() && typeof payload.d === 'string' ? payload.d : undefined;
    } catch {
      return undefined;
    }
  }
}
