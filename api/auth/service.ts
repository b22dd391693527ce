/** Authentication and the admin's management of users and API keys (there is no open registration). */
import { randomBytes } from 'node:crypto';
import type { Write } from '../db/transaction.js';
import { badRequest, conflict, forbidden, notFound, unauthorized } from '../errors.js';
import { hashToken, tokenMatches } from '../tickets/ids.js';
import type { AuditEvent, AuditTrail } from './audit.js';
import type { DeviceTokens } from './devices.js';
import { passwordWeakness } from './password-strength.js';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './passwords.js';
import { hasRole, type Principal, type Role, USER_ROLES, type UserRole } from './principal.js';
import type { ApiKeyItem, PrincipalRepository, UserItem } from './repository.js';
import type { SessionStore } from './sessions.js';
import type { StreamGrant, TokenService } from './tokens.js';

/** `fk_<id>.<secret>`: the id finds the stored hash with one GetItem, the secret is 256 random bits. */
const API_KEY = /^fk_([a-z0-9]{16})\.([A-Za-z0-9_-]{43})$/;

export interface UserView {
  email: string;
  name: string;
  role: Role;
  active: boolean;
  created_at: string;
  updated_at?: string;
}

export interface ApiKeyView {
  key_id: string;
  name: string;
  role: Role;
  created_at: string;
}

export interface ApiKeyListing extends ApiKeyView {
  /** What the key starts with (`fk_<id>`), to recognise it in a tool's settings. */
  prefix: string;
  last_used_at: string | null;
}

/** A key's last use is recorded at most this often (per key, across tasks): no write per request. */
export const KEY_USE_RECORD_MS = 60_000;

const userView = (u: Omit<UserItem, 'principal_id' | 'kind'>): UserView => ({
  email: u.email,
  name: u.name,
  role: u.role,
  active: u.active !== false,
  created_at: u.created_at,
  ...(u.updated_at && { updated_at: u.updated_at }),
});

const keyListing = (k: ApiKeyItem): ApiKeyListing => ({
  key_id: k.key_id,
  name: k.name,
  role: k.role,
  created_at: k.created_at,
  prefix: `fk_${k.key_id}`,
  last_used_at: k.last_used_at ?? null,
});

/** People hold agent, manager or admin; `integration` belongs to API keys (a bridge never logs in). */
function requireUserRole(role: Role | undefined): asserts role is UserRole | undefined {
  if (role !== undefined && !(USER_ROLES as readonly Role[]).includes(role)) {
    throw badRequest('A user is an agent, manager or admin; integration is a role for API keys only', [
      { path: 'body.role', message: 'not a role for a user' },
    ]);
  }
}

/** 400 naming the field, when the password is too easy to guess. */
function requireStrong(password: string, field: string, userInputs: string[]): void {
  const weakness = passwordWeakness(password, userInputs);
  if (weakness) throw badRequest(`The password is ${weakness}`, [{ path: field, message: weakness }]);
}

export interface UserPatch {
  name?: string;
  role?: Role;
  active?: boolean;
}

export class AuthService {
  private readonly bootstrapHash: string | undefined;

  /** key id -> when this task last recorded its use. */
  private readonly keyUse = new Map<string, number>();

  /** key id -> what a stream's re-check last read of it, and until when that is trusted. */
  private readonly keyCheck = new Map<string, { until: number; item: Pick<ApiKeyItem, 'name' | 'role'> | undefined }>();

  constructor(
    private readonly principals: PrincipalRepository,
    private readonly tokens: TokenService,
    private readonly sessions: SessionStore,
    /** Login throttling by device (the HTTP layer keys its per-account limiter on them). */
    readonly devices: DeviceTokens,
    bootstrapAdminKey: string | undefined,
    /** Failures of work done beside a request (recording a key's use); the request does not wait for it. */
    private readonly onBackgroundError: (err: unknown) => void = () => undefined,
    /** The account audit trail (api/auth/audit.ts): its events are written with the changes they describe. */
    private readonly audit: AuditTrail,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.bootstrapHash = bootstrapAdminKey ? hashToken(bootstrapAdminKey) : undefined;
  }

  /** The principal behind a bearer credential, or undefined. Never says which part was wrong. */
  async authenticate(credential: string): Promise<Principal | undefined> {
    if (this.bootstrapHash && tokenMatches(credential, this.bootstrapHash)) {
      return { kind: 'bootstrap', id: 'bootstrap-admin', name: 'Bootstrap admin key', role: 'admin' };
    }
    const key = API_KEY.exec(credential);
    if (key) {
      const [, id, secret] = key as unknown as [string, string, string];
      const item = await this.principals.getApiKey(id);
      if (!item || !tokenMatches(secret, item.key_hash)) return undefined;
      this.recordKeyUse(item);
      return { kind: 'api_key', id: `api-key:${item.key_id}`, name: item.name, role: item.role };
    }
    if (credential.split('.').length === 3) {
      const claimed = await this.tokens.verify(credential);
      if (!claimed) return undefined;
      // The token's role and name are those at login; the session check gives today's (a demotion counts now).
      const user = await this.sessions.check(claimed.sessionId, claimed.id);
      if (!user) return undefined;
      return { ...claimed, name: user.name, role: user.role };
    }
    return undefined;
  }

  /** A stream token (`?stream_token=`): for the agents' stream, or for one ticket's public stream. */
  issueStreamToken(grant: StreamGrant): Promise<string> {
    return this.tokens.issueStream(grant);
  }

  /**
   * What a stream token opens, checked against today's principal as an access token is: a user's session (a
   * deactivation, deletion, demotion or logout ends it within the session cache period) or an API key that
   * still exists. The role is today's.
   */
  async verifyStreamToken(token: string): Promise<StreamGrant | undefined> {
    const grant = await this.tokens.verifyStream(token);
    if (!grant || !('principal' in grant)) return grant;
    const principal = await this.current(grant.principal, false);
    return principal && { principal };
  }

  /**
   * Whether a principal authenticated a while ago (an open event stream's reader) may still act with at least
   * `min`: its session still holds, or its API key still exists. Cached like the per-request session check
   * (`SESSION_CHECK_CACHE_MS`, per session or key), so many streams of one reader cost one read per period.
   */
  async stillHolds(principal: Principal, min: Role): Promise<boolean> {
    const today = await this.current(principal, true);
    return today !== undefined && hasRole(today, min);
  }

  /** The principal with today's name and role, or undefined when its session or key no longer holds. */
  private async current(principal: Principal, cached: boolean): Promise<Principal | undefined> {
    if (principal.kind === 'user') {
      if (!principal.sessionId || !principal.email) return undefined;
      const user = await this.sessions.check(principal.sessionId, principal.email);
      return user && { ...principal, name: user.name, role: user.role };
    }
    if (principal.kind === 'api_key') {
      const id = principal.id.replace(/^api-key:/, '');
      const item = cached ? await this.cachedKey(id) : await this.principals.getApiKey(id);
      return item && { ...principal, name: item.name, role: item.role };
    }
    // The bootstrap key: valid while the service runs with it.
    return this.bootstrapHash ? principal : undefined;
  }

  private async cachedKey(id: string): Promise<Pick<ApiKeyItem, 'name' | 'role'> | undefined> {
    const now = this.clock().getTime();
    const hit = this.keyCheck.get(id);
    if (hit && hit.until > now) return hit.item;
    const found = await this.principals.getApiKey(id);
    const item = found && { name: found.name, role: found.role };
    // Bounded: a flood of distinct keys cannot grow the map without limit.
    if (this.keyCheck.size >= 10_000) this.keyCheck.clear();
    this.keyCheck.set(id, { until: now + this.sessions.cacheMs, item });
    return item;
  }

  private recordKeyUse(item: ApiKeyItem): void {
    const now = this.clock().getTime();
    const recorded = Math.max(this.keyUse.get(item.key_id) ?? 0, Date.parse(item.last_used_at ?? '') || 0);
    if (now - recorded < KEY_USE_RECORD_MS) return;
    if (this.keyUse.size >= 10_000) this.keyUse.clear();
    this.keyUse.set(item.key_id, now);
    const notBefore = new Date(now - KEY_USE_RECORD_MS).toISOString();
    this.principals
      .touchApiKey(item.key_id, new Date(now).toISOString(), notBefore)
      .catch((err: unknown) => this.onBackgroundError(err));
  }

  private async tokensFor(user: UserItem, sessionId: string, refreshToken: string) {
    return {
      access_token: await this.tokens.issue(user, sessionId),
      token_type: 'Bearer' as const,
      expires_in: this.tokens.ttlSeconds,
      refresh_token: refreshToken,
      refresh_expires_in: this.sessions.refreshTtlSeconds,
      user: { email: user.email, name: user.name, role: user.role },
    };
  }

  /** Checks the password; undefined when the e-mail or password is wrong or the account is deactivated. */
  async checkPassword(email: string, password: string): Promise<UserItem | undefined> {
    const user = await this.principals.getUser(email);
    const ok = user ? await verifyPassword(password, user.password_hash) : await verifyAgainstDummy(password);
    return user && ok && user.active !== false ? user : undefined;
  }

  /** Runs a change with its audit event in the same transaction; the event is logged once it committed. */
  private async audited<T>(event: AuditEvent, change: (also: Write[]) => Promise<T>): Promise<T> {
    const pending = this.audit.prepare(event);
    const result = await change([pending.write]);
    if (result !== undefined && result !== false) pending.committed();
    return result;
  }

  /** Why a change of a user read a moment ago did not apply: the user is gone (404) or was changed (409). */
  private async lostUpdate(email: string): Promise<Error> {
    return (await this.principals.getUser(email))
      ? conflict('The account was changed meanwhile; try again')
      : notFound('User');
  }

  /** `deviceToken`: the one this device was given at an earlier login, kept when still valid for the account. */
  async login(email: string, password: string, deviceToken?: string, clientIp?: string) {
    const user = await this.checkPassword(email, password);
    const who = { actor: email.toLowerCase(), subject: email.toLowerCase(), ...(clientIp && { client_ip: clientIp }) };
    if (!user) {
      await this.audit.record({ type: 'auth.login_failed', ...who });
      throw unauthorized('E-mail or password is incorrect');
    }
    await this.audit.record({ type: 'auth.login', ...who });
    const session = await this.sessions.open(user);
    const known = this.devices.deviceOf(deviceToken, user.email) !== undefined;
    return {
      ...(await this.tokensFor(user, session.sessionId, session.refreshToken)),
      device_token: known ? (deviceToken as string) : this.devices.issue(user.email),
    };
  }

  /** A new access token and the next refresh token; the presented one is spent. */
  async refresh(refreshToken: string) {
    const outcome = await this.sessions.refresh(refreshToken);
    if (!outcome.ok) {
      throw unauthorized(
        outcome.reason === 'reused'
          ? 'This refresh token was already used; the session is ended, log in again'
          : 'The refresh token is invalid or expired',
      );
    }
    return this.tokensFor(outcome.user, outcome.sessionId, outcome.refreshToken);
  }

  async logout(principal: Principal): Promise<void> {
    if (!principal.sessionId) throw badRequest('Only an agent session can log out; revoke an API key instead');
    await this.sessions.end(principal.sessionId);
  }

  /** Changes the caller's own password and ends every other session of theirs. */
  async changeOwnPassword(principal: Principal, current: string, next: string): Promise<void> {
    if (!principal.sessionId || !principal.email) throw forbidden('Only an agent can change their own password');
    requireStrong(next, 'body.new_password', [principal.email, principal.name]);
    const user = await this.checkPassword(principal.email, current);
    if (!user) {
      throw badRequest('The current password is incorrect', [{ path: 'body.current_password', message: 'incorrect' }]);
    }
    const passwordHash = await hashPassword(next);
    const event = { type: 'user.updated' as const, actor: principal.id, subject: user.email, changes: ['password'] };
    const updated = await this.audited(event, (also) =>
      this.principals.updateUser(
        user,
        { password_hash: passwordHash, updated_at: this.clock().toISOString(), endSessions: true },
        also,
      ),
    );
    if (!updated) throw await this.lostUpdate(user.email);
    await this.sessions.keep(principal.sessionId, updated.session_version ?? 0);
    this.sessions.forget(user.email);
  }

  /** An admin sets a user's password (forgotten password): every session of the user ends. */
  async resetPassword(email: string, password: string, by: Principal): Promise<void> {
    requireStrong(password, 'body.password', [email]);
    const passwordHash = await hashPassword(password);
    const current = await this.principals.getUser(email);
    if (!current) throw notFound('User');
    const event = { type: 'user.updated' as const, actor: by.id, subject: current.email, changes: ['password'] };
    const updated = await this.audited(event, (also) =>
      this.principals.updateUser(
        current,
        { password_hash: passwordHash, updated_at: this.clock().toISOString(), endSessions: true },
        also,
      ),
    );
    if (!updated) throw await this.lostUpdate(current.email);
    this.sessions.forget(updated.email);
  }

  async listUsers(): Promise<UserView[]> {
    const users = await this.principals.listByKind<UserItem>('user');
    return users.map(userView).sort((a, b) => a.email.localeCompare(b.email));
  }

  async getUser(email: string): Promise<UserView> {
    const user = await this.principals.getUser(email);
    if (!user) throw notFound('User');
    return userView(user);
  }

  /** Deactivation and any change of role end the user's sessions (a reactivated user logs in again). */
  async updateUser(email: string, patch: UserPatch, by: Principal): Promise<UserView> {
    requireUserRole(patch.role);
    const self = by.email !== undefined && by.email === email.toLowerCase();
    if (self && (patch.active === false || (patch.role && patch.role !== 'admin'))) {
      throw conflict('An admin cannot deactivate or demote their own account; ask another admin');
    }
    const current = await this.principals.getUser(email);
    if (!current) throw notFound('User');
    const endSessions =
      (patch.active === false && current.active !== false) || (patch.role !== undefined && patch.role !== current.role);
    const event = { type: 'user.updated' as const, actor: by.id, subject: current.email, changes: Object.keys(patch) };
    const updated = await this.audited(event, (also) =>
      this.principals.updateUser(current, { ...patch, updated_at: this.clock().toISOString(), endSessions }, also),
    );
    if (!updated) throw await this.lostUpdate(current.email);
    if (endSessions) this.sessions.forget(updated.email);
    return userView(updated);
  }

  async deleteUser(email: string, by: Principal): Promise<void> {
    if (by.email !== undefined && by.email === email.toLowerCase()) {
      throw conflict('An admin cannot delete their own account; ask another admin');
    }
    const event = { type: 'user.deleted' as const, actor: by.id, subject: email.toLowerCase() };
    if (!(await this.audited(event, (also) => this.principals.deleteUser(email, also)))) throw notFound('User');
    this.sessions.forget(email.toLowerCase());
  }

  async listApiKeys(): Promise<ApiKeyListing[]> {
    const keys = await this.principals.listByKind<ApiKeyItem>('api_key');
    return keys.map(keyListing).sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  async userExists(email: string): Promise<boolean> {
    return (await this.principals.getUser(email)) !== undefined;
  }

  async createUser(
    input: { email: string; name: string; role: Role; password: string },
    by: Principal,
  ): Promise<UserView> {
    requireUserRole(input.role);
    requireStrong(input.password, 'body.password', [input.email, input.name]);
    const user = {
      email: input.email.toLowerCase(),
      name: input.name,
      role: input.role,
      password_hash: await hashPassword(input.password),
      created_at: this.clock().toISOString(),
      created_by: by.id,
      active: true,
      session_version: 0,
    };
    const event = { type: 'user.created' as const, actor: by.id, subject: user.email, changes: ['role'] };
    if (!(await this.audited(event, (also) => this.principals.createUser(user, also)))) {
      throw conflict(`a user with e-mail ${user.email} already exists`);
    }
    return userView(user);
  }

  async createApiKey(input: { name: string; role: Role }, by: Principal): Promise<ApiKeyView & { api_key: string }> {
    const id = randomBytes(10).toString('hex').slice(0, 16);
    const secret = randomBytes(32).toString('base64url');
    const item = {
      key_id: id,
      name: input.name,
      role: input.role,
      key_hash: hashToken(secret),
      created_at: this.clock().toISOString(),
      created_by: by.id,
    };
    const event = { type: 'api_key.created' as const, actor: by.id, subject: id };
    if (!(await this.audited(event, (also) => this.principals.createApiKey(item, also)))) {
      throw conflict('key id collision; retry');
    }
    return { key_id: id, name: item.name, role: item.role, created_at: item.created_at, api_key: `fk_${id}.${secret}` };
  }

  async deleteApiKey(id: string, by: Principal): Promise<void> {
    const event = { type: 'api_key.revoked' as const, actor: by.id, subject: id };
    if (!(await this.audited(event, (also) => this.principals.deleteApiKey(id, also)))) throw notFound('API key');
    // This task's streams of the key end at their next check (other tasks' within the cache period).
    this.keyCheck.delete(id);
  }
}
