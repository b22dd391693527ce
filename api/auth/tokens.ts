/**
 * Short-lived agent access tokens: JWT HS256 with issuer, audience, iat and exp checked on every request.
 * `sid` names the login session, which every request checks too (api/auth/sessions.ts), so a logout,
 * deactivation or demotion ends the token before it expires.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { type Principal, ROLES, type Role } from './principal.js';

const ISSUER = 'freeda';
const AUDIENCE = 'freeda-api';
/** Stream tokens have their own audience: one can never be used as an access token, nor the reverse. */
const STREAM_AUDIENCE = 'freeda-stream';
/** Checked when a stream connects: long enough to open (and reopen) it, short enough to leak little. */
export const STREAM_TOKEN_TTL_SECONDS = 300;

/** What a stream token opens: the agents' stream as a principal, or one ticket's public stream. */
export type StreamGrant = { principal: Principal } | { ticketId: string };

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

  /** A short-lived token for one purpose: opening an event stream where a browser cannot set headers. */
  async issueStream(grant: StreamGrant): Promise<string> {
    const claims =
      'ticketId' in grant
        ? { scope: 'ticket', ticket_id: grant.ticketId }
        : {
            scope: 'events',
            role: grant.principal.role,
            name: grant.principal.name,
            kind: grant.principal.kind,
            // The login session, checked again when the token opens a stream (a deactivation ends it too).
            ...(grant.principal.sessionId && { sid: grant.principal.sessionId }),
          };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('ticketId' in grant ? `ticket:${grant.ticketId}` : grant.principal.id)
      .setIssuer(ISSUER)
      .setAudience(STREAM_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${STREAM_TOKEN_TTL_SECONDS}s`)
      .sign(this.key);
  }

  /** What the stream token grants, or undefined for any invalid, expired or foreign token. */
  async verifyStream(token: string): Promise<StreamGrant | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: STREAM_AUDIENCE,
        requiredClaims: ['sub', 'iat', 'exp'],
      });
      if (payload.scope === 'ticket' && typeof payload.ticket_id === 'string') return { ticketId: payload.ticket_id };
      const role = payload.role as Role;
      if (payload.scope !== 'events' || !ROLES.includes(role) || typeof payload.sub !== 'string') return undefined;
      const kind = payload.kind === 'api_key' || payload.kind === 'bootstrap' ? payload.kind : 'user';
      const principal: Principal = { kind, id: payload.sub, name: String(payload.name ?? payload.sub), role };
      if (kind === 'user') principal.email = payload.sub;
      if (typeof payload.sid === 'string') principal.sessionId = payload.sid;
      return { principal };
    } catch (err) {
      if (err instanceof errors.JOSEError) return undefined;
      throw err;
    }
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
