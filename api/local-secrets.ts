/**
 * Secrets for a laptop: when no signing key or bootstrap admin key is configured outside production, one is
 * generated once and kept under DATA_DIR (mode 600), so tokens and the admin key survive restarts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function localSecret(dataDir: string, name: string): { value: string; created: boolean; path: string } {
  const path = join(dataDir, name);
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false, path };
  // Owner only: the directory holds the local keys and the local database.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString('base64url');
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true, path };
}
