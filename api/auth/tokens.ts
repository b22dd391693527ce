/**
 * Short-lived agent access tokens: JWT HS256 with issuer, audience, iat and exp checked on every request.
 * `sid` names the login session, which every request checks too (api/auth/sessions.ts), so a logout,
 * deactivation or demotion ends the token before it expires.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { type Principal, ROLES, type Role } from './principal.js';

const ISSUER = 'freeda';
const AUDIENCE = 'freeda-api';

export class TokenService {
  constructor(
    private readonly key: Buffer,
    readonly ttlSeconds: number,
  ) {}

  async issue(user: { email: string; name: string; role: Role }, sessionId: string): Promise<string> {
    return new SignJWT({ name: user.name, role: user.role, sid: sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.email)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** The principal (its session still to be checked), or undefined for any invalid, expired or foreign token. */
  async verify(token: string): Promise<(Principal & { sessionId: string }) | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'iat', 'exp', 'sid'],
      });
      const role = payload.role as Role;
      if (!ROLES.includes(role) || typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return undefined;
      return {
        kind: 'user',
        id: payload.sub,
        email: payload.sub,
        name: String(payload.name ?? payload.sub),
        role,
        sessionId: payload.sid,
      };
    } catch (err) {
      if (err instanceof errors.JOSEError) return undefined;
      throw err;
    }
  }
}
