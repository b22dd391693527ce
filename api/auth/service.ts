/** Authentication and the admin's management of users and API keys (there is no open registration). */
import { randomBytes } from 'node:crypto';
import { conflict, notFound, unauthorized } from '../errors.js';
import { hashToken, tokenMatches } from '../tickets/ids.js';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './passwords.js';
import type { Principal, Role } from './principal.js';
import type { PrincipalRepository } from './repository.js';
import type { StreamGrant, TokenService } from './tokens.js';

/** `fk_<id>.<secret>`: the id finds the stored hash with one GetItem, the secret is 256 random bits. */
const API_KEY = /^fk_([a-z0-9]{16})\.([A-Za-z0-9_-]{43})$/;

export interface UserView {
  email: string;
  name: string;
  role: Role;
  created_at: string;
}

export interface ApiKeyView {
  key_id: string;
  name: string;
  role: Role;
  created_at: string;
}

export class AuthService {
  private readonly bootstrapHash: string | undefined;

  constructor(
    private readonly principals: PrincipalRepository,
    private readonly tokens: TokenService,
    bootstrapAdminKey: string | undefined,
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
      return { kind: 'api_key', id: `api-key:${item.key_id}`, name: item.name, role: item.role };
    }
    if (credential.split('.').length === 3) return this.tokens.verify(credential);
    return undefined;
  }

  /** A stream token (`?stream_token=`): for the agents' stream, or for one ticket's public stream. */
  issueStreamToken(grant: StreamGrant): Promise<string> {
    return this.tokens.issueStream(grant);
  }

  verifyStreamToken(token: string): Promise<StreamGrant | undefined> {
    return this.tokens.verifyStream(token);
  }

  async login(email: string, password: string) {
    const user = await this.principals.getUser(email);
    const ok = user ? await verifyPassword(password, user.password_hash) : await verifyAgainstDummy(password);
    if (!user || !ok) throw unauthorized('E-mail or password is incorrect');
    return {
      access_token: await this.tokens.issue(user),
      token_type: 'Bearer' as const,
      expires_in: this.tokens.ttlSeconds,
      user: { email: user.email, name: user.name, role: user.role },
    };
  }

  async userExists(email: string): Promise<boolean> {
    return (await this.principals.getUser(email)) !== undefined;
  }

  async createUser(
    input: { email: string; name: string; role: Role; password: string },
    by: Principal,
  ): Promise<UserView> {
    const user = {
      email: input.email.toLowerCase(),
      name: input.name,
      role: input.role,
      password_hash: await hashPassword(input.password),
      created_at: this.clock().toISOString(),
      created_by: by.id,
    };
    if (!(await this.principals.createUser(user))) throw conflict(`a user with e-mail ${user.email} already exists`);
    return { email: user.email, name: user.name, role: user.role, created_at: user.created_at };
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
    if (!(await this.principals.createApiKey(item))) throw conflict('key id collision; retry');
    return { key_id: id, name: item.name, role: item.role, created_at: item.created_at, api_key: `fk_${id}.${secret}` };
  }

  async deleteApiKey(id: string): Promise<void> {
    if (!(await this.principals.deleteApiKey(id))) throw notFound('API key');
  }
}
