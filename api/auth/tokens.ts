/** Short-lived agent access tokens: JWT HS256 with issuer, audience, iat and exp checked on every request. */
import { errors, jwtVerify, SignJWT } from 'jose';
import { type Principal, ROLES, type Role } from './principal.js';

const ISSUER = 'freeda';
const AUDIENCE = 'freeda-api';

export class TokenService {
  constructor(
    private readonly key: Buffer,
    readonly ttlSeconds: number,
  ) {}

  async issue(user: { email: string; name: string; role: Role }): Promise<string> {
    return new SignJWT({ name: user.name, role: user.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.email)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** The principal, or undefined for any invalid, expired or foreign token. */
  async verify(token: string): Promise<Principal | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'iat', 'exp'],
      });
      const role = payload.role as Role;
      if (!ROLES.includes(role) || typeof payload.sub !== 'string') return undefined;
      return { kind: 'user', id: payload.sub, email: payload.sub, name: String(payload.name ?? payload.sub), role };
    } catch (err) {
      if (err instanceof errors.JOSEError) return undefined;
      throw err;
    }
  }
}
