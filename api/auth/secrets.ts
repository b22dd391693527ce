/**
 * One signing secret (TOKEN_SIGNING_KEY, from Secrets Manager in production) and independent keys derived
 * from it per purpose with HKDF, so a cursor MAC can never be replayed as a token signature or the reverse.
 */
import { hkdfSync } from 'node:crypto';

export type KeyPurpose = 'access-token' | 'list-cursor' | 'device-token';

export function deriveKey(secret: string, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'freeda', `freeda:${purpose}`, 32));
}
