/**
 * One signing secret (TOKEN_SIGNING_KEY, from Secrets Manager in production) and independent keys derived
 * from it per purpose with HKDF, so a cursor MAC can never be replayed as a token signature or the reverse.
 */
import { hkdfSync } from 'node:crypto';

export type KeyPurpose =
  | 'access-token'
  | 'list-cursor'
  /** MACs of the device tokens that exempt a known device from an account's login lockout. */
  | 'device-token'
  /** MACs naming an idempotency record (key and caller) and fingerprinting its request. */
  | 'idempotency-mac'
  /** Encryption of the responses kept for replay (they may carry a ticket's access token or a new API key). */
  | 'idempotency-seal'
  /** Encryption of the webhooks' signing secrets (they must be read back to sign, so they cannot be hashed). */
  | 'webhook-secret';

export function deriveKey(secret: string, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'freeda', `freeda:${purpose}`, 32));
}
