/**
 * Login sessions. A login opens a session item; its access tokens name it (`sid`) and its refresh token
 * rotates on every use. Each request checks the session and its user (active, current session version, role)
 * through a cache of a couple of seconds, so a logout, deactivation, demotion, deletion or password change is
 * seen by every task within that time, at a cost of two GetItems per session and cache period, not per request.
 * A refresh token presented after it was replaced is a sign of theft: the whole session ends.
 */
import { randomBytes } from 'node:crypto';
import { hashToken, tokenMatches } from '../tickets/ids.js';
import type { Role } from './principal.js';
import type { PrincipalRepository, SessionItem, UserItem } from './repository.js';

/** How long a task trusts what it read of a session: a revocation reaches every task within this. */
export const SESSION_CHECK_CACHE_MS = 2000;

/** `rt_<session id>.<secret>`: the id finds the session, the secret is 256 random bits. */
const REFRESH_TOKEN = /^rt_([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface SessionUser {
  email: string;
  name: string;
  role: Role;
}

export type RefreshOutcome =
  | { ok: true; sessionId: string; refreshToken: string; user: UserItem }
  | { ok: false; reason: 'invalid' | 'reused' };

const isUsable = (user: UserItem | undefined, session: SessionItem | undefined, nowSeconds: number) =>
  user !== undefined &&
  session !== undefined &&
  user.active !== false &&
  !session.revoked &&
  session.expires_at > nowSeconds &&
  session.email === user.email &&
  session.session_version >= (user.session_version ?? 0);

export class SessionStore {
  private readonly cache = new Map<string, { until: number; user: SessionUser | undefined }>();

  constructor(
    private readonly principals: PrincipalRepository,
    private readonly options: { refreshTtlSeconds: number; cacheMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  private static newRefresh(sessionId: string) {
    const secret = randomBytes(32).toString('base64url');
    return { token: `rt_${sessionId}.${secret}`, hash: hashToken(secret) };
  }

  /** How long a check is trusted (other credential checks use the same period). */
  get cacheMs(): number {
    return this.options.cacheMs;
  }

  get refreshTtlSeconds(): number {
    return this.options.refreshTtlSeconds;
  }

  async open(user: UserItem): Promise<{ sessionId: string; refreshToken: string }> {
    const sessionId = randomBytes(16).toString('base64url');
    const refresh = SessionStore.newRefresh(sessionId);
    await this.principals.createSession({
      session_id: sessionId,
      email: user.email,
      session_version: user.session_version ?? 0,
      refresh_hash: refresh.hash,
      revoked: false,
      created_at: new Date(this.now()).toISOString(),
      expires_at: Math.floor(this.now() / 1000) + this.options.refreshTtlSeconds,
    });
    return { sessionId, refreshToken: refresh.token };
  }

  /** The session's user as it is now (role and name included), or undefined when the session may no longer act. */
  async check(sessionId: string, email: string): Promise<SessionUser | undefined> {
    const cached = this.cache.get(sessionId);
    if (cached && cached.until > this.now()) return cached.user?.email === email ? cached.user : undefined;
    const [session, user] = await Promise.all([this.principals.getSession(sessionId), this.principals.getUser(email)]);
    const usable = isUsable(user, session, this.now() / 1000) ? user : undefined;
    const value = usable && { email: usable.email, name: usable.name, role: usable.role };
    // Bounded: a flood of distinct sessions cannot grow the map without limit.
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(sessionId, { until: this.now() + this.options.cacheMs, user: value });
    return value;
  }

  async refresh(token: string): Promise<RefreshOutcome> {
    const match = REFRESH_TOKEN.exec(token);
    if (!match) return { ok: false, reason: 'invalid' };
    const [, sessionId, secret] = match as unknown as [string, string, string];
    const session = await this.principals.getSession(sessionId);
    if (!session || session.revoked || session.expires_at <= this.now() / 1000) return { ok: false, reason: 'invalid' };
    if (!tokenMatches(secret, session.refresh_hash)) {
      await this.end(sessionId);
      return { ok: false, reason: 'reused' };
    }
    const user = await this.principals.getUser(session.email);
    if (!user || !isUsable(user, session, this.now() / 1000)) return { ok: false, reason: 'invalid' };
    const next = SessionStore.newRefresh(sessionId);
    // Two refreshes racing with the same token: one wins, the other is a reuse.
    if (!(await this.principals.rotateRefresh(sessionId, session.refresh_hash, next.hash))) {
      await this.end(sessionId);
      return { ok: false, reason: 'reused' };
    }
    return { ok: true, sessionId, refreshToken: next.token, user };
  }

  async end(sessionId: string): Promise<void> {
    await this.principals.revokeSession(sessionId);
    this.cache.delete(sessionId);
  }

  /** Keeps one session alive across a raise of its user's session version. */
  async keep(sessionId: string, version: number): Promise<void> {
    await this.principals.setSessionVersion(sessionId, version);
    this.cache.delete(sessionId);
  }

  /** This task forgets what it knew of a user's sessions (other tasks catch up within the cache period). */
  forget(email: string): void {
    for (const [id, entry] of this.cache) if (entry.user?.email === email) this.cache.delete(id);
  }
}
