import { expect } from 'chai';
import { SignJWT } from 'jose';
import { deriveKey } from '../../api/auth/secrets.js';
import { ADMIN_KEY, type Harness, SIGNING_KEY, startHarness } from '../support/harness.js';

describe('authentication and accounts', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const admin = () => `Bearer ${ADMIN_KEY}`;

  it('logs an agent in with a short-lived token that /v1/auth/me accepts', async () => {
    const u = await h.user('agent');
    const login = await h
      .http()
      .post('/v1/auth/login')
      .send({ email: u.email.toUpperCase(), password: u.password })
      .expect(200);
    expect(login.body).to.include({ token_type: 'Bearer', expires_in: 900 });
    expect(login.body.user).to.deep.equal({ email: u.email, name: login.body.user.name, role: 'agent' });
    const me = await h.http().get('/v1/auth/me').set('authorization', `Bearer ${login.body.access_token}`).expect(200);
    expect(me.body).to.include({ kind: 'user', email: u.email, role: 'agent' });
  });

  it('gives the same 401 for a wrong password and an unknown e-mail', async () => {
    const u = await h.user('agent');
    const wrong = await h
      .http()
      .post('/v1/auth/login')
      .send({ email: u.email, password: 'not the password' })
      .expect(401);
    const unknown = await h
      .http()
      .post('/v1/auth/login')
      .send({ email: 'nobody@freeda.test', password: 'whatever' })
      .expect(401);
    expect(wrong.body.error.message).to.equal(unknown.body.error.message);
  });

  async function token(
    claims: Record<string, unknown>,
    opts: { key?: string; exp?: number; aud?: string; iat?: number; sub?: string } = {},
  ) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(opts.sub ?? 'agent1@freeda.test')
      .setIssuer('freeda')
      .setAudience(opts.aud ?? 'freeda-api')
      .setIssuedAt(opts.iat ?? now - 10)
      .setExpirationTime(opts.exp ?? now + 60)
      .sign(deriveKey(opts.key ?? SIGNING_KEY, 'access-token'));
  }

  /** The session id a real login put in its token. */
  const sessionOf = (accessToken: string) =>
    JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString()).sid as string;

  it('accepts a well-signed token of a live session, and refuses an expired, foreign-audience, foreign-key or session-less one with 401', async () => {
    const u = await h.user('agent');
    const sid = sessionOf(u.token);
    const sub = u.email;
    const good = await token({ role: 'agent', name: 'A', sid }, { sub });
    await h.http().get('/v1/auth/me').set('authorization', `Bearer ${good}`).expect(200);
    const now = Math.floor(Date.now() / 1000);
    for (const bad of [
      await token({ role: 'agent', sid }, { sub, exp: now - 1, iat: now - 100 }),
      await token({ role: 'agent', sid }, { sub, aud: 'another-api' }),
      await token({ role: 'agent', sid }, { sub, key: 'some-other-signing-key-0123456789abcdef' }),
      await token({ role: 'superuser', sid }, { sub }),
      await token({ role: 'agent' }, { sub }),
      await token({ role: 'agent', sid: 'AAAAAAAAAAAAAAAAAAAAAA' }, { sub }),
      await token({ role: 'agent', sid }, { sub: 'someone-else@freeda.test' }),
    ]) {
      await h.http().get('/v1/auth/me').set('authorization', `Bearer ${bad}`).expect(401);
    }
  });

  it('accepts the Bearer scheme in any letter case', async () => {
    const u = await h.user('agent');
    for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
      await h.http().get('/v1/auth/me').set('authorization', `${scheme} ${u.token}`).expect(200);
    }
    await h.http().get('/v1/auth/me').set('authorization', `Basic ${u.token}`).expect(401);
  });

  it('refuses a token whose signature was swapped for "none"', async () => {
    const good = await token({ role: 'admin' });
    const [, payload] = good.split('.');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    await h.http().get('/v1/auth/me').set('authorization', `Bearer ${none}`).expect(401);
  });

  it('lets an admin create users, refuses duplicates with 409 and weak passwords with 400', async () => {
    const body = {
      email: 'newagent@freeda.test',
      name: 'New Agent',
      role: 'agent',
      password: 'a long enough passphrase',
    };
    const res = await h.http().post('/v1/users').set('authorization', admin()).send(body).expect(201);
    expect(res.body).to.include({ email: 'newagent@freeda.test', role: 'agent' });
    expect(res.body).to.not.have.any.keys('password', 'password_hash');
    await h.http().post('/v1/users').set('authorization', admin()).send(body).expect(409);
    await h
      .http()
      .post('/v1/users')
      .set('authorization', admin())
      .send({ ...body, email: 'x@freeda.test', password: 'short' })
      .expect(400);
    await h
      .http()
      .post('/v1/users')
      .set('authorization', admin())
      .send({ ...body, email: 'y@freeda.test', role: 'root' })
      .expect(400);
  });

  it('stores passwords only as memory-hard hashes', async () => {
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const u = await h.user('agent');
    const out = await h.runtime.dynamo.doc.send(
      new GetCommand({ TableName: h.tables.principals, Key: { principal_id: `user#${u.email}` } }),
    );
    expect(out.Item?.password_hash).to.match(/^scrypt\$32768\$8\$1\$/);
    expect(JSON.stringify(out.Item)).to.not.include(u.password);
  });

  it('does not let an agent or a manager create accounts or keys', async () => {
    for (const role of ['agent', 'manager'] as const) {
      const u = await h.user(role);
      await h
        .http()
        .post('/v1/users')
        .set('authorization', `Bearer ${u.token}`)
        .send({ email: 'z@freeda.test', name: 'Z', role: 'admin', password: 'a long enough passphrase' })
        .expect(403);
      await h
        .http()
        .post('/v1/api-keys')
        .set('authorization', `Bearer ${u.token}`)
        .send({ name: 'tool', role: 'admin' })
        .expect(403);
    }
  });

  it('shows an API key once, accepts it with its role, and stops accepting it once revoked', async () => {
    const created = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', admin())
      .send({ name: 'CRM sync', role: 'manager' })
      .expect(201);
    const key = created.body.api_key as string;
    expect(key).to.match(/^fk_[a-z0-9]{16}\./);
    const me = await h.http().get('/v1/auth/me').set('authorization', `Bearer ${key}`).expect(200);
    expect(me.body).to.include({ kind: 'api_key', role: 'manager', name: 'CRM sync' });
    await h.http().get('/v1/tickets').set('authorization', `Bearer ${key}`).expect(200);
    await h.http().delete(`/v1/tickets/FRE-00000000`).set('authorization', `Bearer ${key}`).expect(403);
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const stored = await h.runtime.dynamo.doc.send(
      new GetCommand({ TableName: h.tables.principals, Key: { principal_id: `key#${created.body.key_id}` } }),
    );
    expect(JSON.stringify(stored.Item)).to.not.include(key.split('.')[1]);
    await h.http().delete(`/v1/api-keys/${created.body.key_id}`).set('authorization', admin()).expect(204);
    await h.http().get('/v1/auth/me').set('authorization', `Bearer ${key}`).expect(401);
    await h.http().delete(`/v1/api-keys/${created.body.key_id}`).set('authorization', admin()).expect(404);
  });

  it('refuses a key whose secret part was altered', async () => {
    const created = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', admin())
      .send({ name: 'tool', role: 'agent' })
      .expect(201);
    const key = created.body.api_key as string;
    const altered = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    await h.http().get('/v1/auth/me').set('authorization', `Bearer ${altered}`).expect(401);
  });

  it('has no open registration: creating users without the admin role is impossible', async () => {
    await h
      .http()
      .post('/v1/users')
      .send({ email: 'me@evil.test', name: 'Me', role: 'admin', password: 'a long enough passphrase' })
      .expect(401);
    await h.http().post('/v1/auth/register').send({ email: 'me@evil.test' }).expect(404);
  });
});
