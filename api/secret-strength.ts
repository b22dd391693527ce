/**
 * Is a configured secret (signing key, bootstrap key) a real random value? A fixed-length minimum lets
 * `aaaa…` and `changeme-changeme-…` through; this refuses the usual placeholders, a value that is one short
 * pattern repeated, and values whose character-frequency (Shannon) estimate is below 96 bits. The estimate
 * undercounts random text (a random 32-character hex key scores about 118 bits), so the bar is set where
 * every real generator passes (`openssl rand -base64 48`, the infra's random passwords) and typed phrases fail.
 */

export const MIN_SECRET_BITS = 96;

const PLACEHOLDERS = [
  'changeme',
  'change-me',
  'change_me',
  'placeholder',
  'example',
  'replace',
  'your-',
  'your_',
  'dummy',
  'insecure',
  'default',
  'xxxxxxxx',
  'fixme',
];

/** Shannon entropy of the character distribution, times the length. */
export function estimatedBits(value: string): number {
  const counts = new Map<string, number>();
  const chars = [...value];
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

/** Whether the value is a short unit repeated (`abab…`, `0123456789012…`, the last repeat possibly cut). */
function isPeriodic(value: string): boolean {
  for (let size = 1; size <= value.length / 2; size++) {
    let periodic = true;
    for (let i = size; i < value.length && periodic; i++) periodic = value[i] === value[i - size];
    if (periodic) return true;
  }
  return false;
}

/** What is wrong with the secret, or undefined. Never repeats the value. */
export function secretWeakness(value: string): string | undefined {
  const lower = value.toLowerCase();
  const placeholder = PLACEHOLDERS.find((p) => lower.includes(p));
  if (placeholder) return `looks like a placeholder (contains "${placeholder}"); generate one: openssl rand -base64 48`;
  if (isPeriodic(value)) return 'is one short pattern repeated; generate one: openssl rand -base64 48';
  if (estimatedBits(value) < MIN_SECRET_BITS) {
    return `has too little entropy (under ${MIN_SECRET_BITS} bits); generate one: openssl rand -base64 48`;
  }
  return undefined;
}
