import { expect } from 'chai';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';

const admin = `Bearer ${ADMIN_KEY}`;

/**
 * Asks until `refused` holds or `limitMs` passed (generous: the promise is "within seconds", and a busy
 * machine must not fail the test). Returns whether it held; the caller asserts that.
 */
async function eventually(refused: () => Promise<boolean>, limitMs = 15_000): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (await refused()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return refused();
}

describe('accounts and sessions', function () {
  // Each case waits (boundedly) for a second task to see a change; a busy machine must not fail it.
  this.timeout(60_000);
  let a: Harness;
  /** A second task of the same deployment: same tables, its own caches. */
  let b: Harness;
  before(async () => {
    a = await startHarness();
    b = await startHarness({}, a.tables);
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  const me = (h: Harness, token: string) => h.http().get('/v1/auth/me').set('authorization', `Bearer ${token}`);
  const refusedOn = (h: Harness, token: string) => async () => (await me(h, token)).status === 401;

  it('lists, reads and renames accounts for an admin, without any password hash', async () => {
    const u = await a.user('agent');
    const list = await a.http().get('/v1/users').set('authorization', admin).expect(200);
    const row = list.body.users.find((x: { email: string }) => x.email === u.email);
    expect(row).to.include({ email: u.email, role: 'agent', active: true });
    expect(JSON.stringify(list.body)).not.to.match(/password|scrypt/);
    const renamed = await a
      .http()
      .patch(`/v1/users/${encodeURIComponent(u.email)}`)
      .set('authorization', admin)
      .send({ name: 'Renamed Agent' })
      .expect(200);
    expect(renamed.body).to.include({ name: 'Renamed Agent', role: 'agent', active: true });
    const got = await a.http().get(`/v1/users/${u.email.toUpperCase()}`).set('authorization', admin).expect(200);
    expect(got.body.name).to.equal('Renamed Agent');
    // A rename does not end the session.
    await me(a, u.token).expect(200);
    await a.http().get('/v1/users').set('authorization', `Bearer ${u.token}`).expect(403);
    await a.http().get('/v1/users/nobody@freeda.test').set('authorization', admin).expect(404);
    const empty = await a.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({}).expect(400);
    expect(empty.body.error.code).to.equal('invalid_request');
  });

  it("refuses a deactivated user's token on a second task within seconds, and their login at once", async () => {
    const u = await a.user('agent');
    await me(b, u.token).expect(200); // b has the session in its cache now
    await a.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({ active: false }).expect(200);
    await me(a, u.token).expect(401);
    expect(await eventually(refusedOn(b, u.token)), 'second task still accepts the token').to.equal(true);
    await b.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(401);

    // Reactivated: a new login works, the old sessions stay ended.
    await a.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({ active: true }).expect(200);
    const again = await b.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(200);
    await me(a, again.body.access_token).expect(200);
    await me(a, u.token).expect(401);
  });

  it("ends a demoted admin's sessions on every task; the new login carries the new role", async () => {
    const boss = await a.user('admin');
    await b.http().get('/v1/users').set('authorization', `Bearer ${boss.token}`).expect(200);
    await a.http().patch(`/v1/users/${boss.email}`).set('authorization', admin).send({ role: 'agent' }).expect(200);
    const refused = async () =>
      (await b.http().get('/v1/users').set('authorization', `Bearer ${boss.token}`)).status === 401;
    expect(await eventually(refused), 'second task still lets the demoted admin in').to.equal(true);
    const login = await a.http().post('/v1/auth/login').send({ email: boss.email, password: boss.password });
    expect(login.body.user.role).to.equal('agent');
    await b.http().get('/v1/users').set('authorization', `Bearer ${login.body.access_token}`).expect(403);
  });

  it("ends a deleted user's sessions on every task", async () => {
    const u = await a.user('agent');
    await me(b, u.token).expect(200);
    await a.http().delete(`/v1/users/${u.email}`).set('authorization', admin).expect(204);
    await a.http().delete(`/v1/users/${u.email}`).set('authorization', admin).expect(404);
    expect(await eventually(refusedOn(b, u.token))).to.equal(true);
    await a.http().get(`/v1/users/${u.email}`).set('authorization', admin).expect(404);
  });

  it('keeps an admin from deactivating, demoting or deleting their own account', async () => {
    const boss = await a.user('admin');
    const auth = `Bearer ${boss.token}`;
    await a.http().patch(`/v1/users/${boss.email}`).set('authorization', auth).send({ active: false }).expect(409);
    await a.http().patch(`/v1/users/${boss.email}`).set('authorization', auth).send({ role: 'manager' }).expect(409);
    await a.http().delete(`/v1/users/${boss.email}`).set('authorization', auth).expect(409);
    await me(a, boss.token).expect(200);
  });

  it('logs out: the token is refused at once on this task and within seconds on the other', async () => {
    const u = await a.user('agent');
    const other = await a.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(200);
    await me(b, u.token).expect(200);
    await a.http().post('/v1/auth/logout').set('authorization', `Bearer ${u.token}`).expect(204);
    await me(a, u.token).expect(401);
    expect(await eventually(refusedOn(b, u.token))).to.equal(true);
    // Only that session: the user's other login lives on.
    await me(b, other.body.access_token).expect(200);
    await a.http().post('/v1/auth/logout').set('authorization', admin).expect(400);
  });

  it('rotates refresh tokens; a reused one ends the whole session', async () => {
    const u = await a.user('agent');
    const login = await a.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(200);
    expect(login.body.refresh_token).to.match(/^rt_/);
    const first = login.body.refresh_token as string;
    const next = await b.http().post('/v1/auth/refresh').send({ refresh_token: first }).expect(200);
    expect(next.body.refresh_token).to.not.equal(first);
    await me(a, next.body.access_token).expect(200);

    // The spent token comes back (a copy in the wrong hands): the session ends, for both holders.
    const reuse = await a.http().post('/v1/auth/refresh').send({ refresh_token: first }).expect(401);
    expect(reuse.body.error.message).to.match(/already used/);
    await a.http().post('/v1/auth/refresh').send({ refresh_token: next.body.refresh_token }).expect(401);
    await me(a, next.body.access_token).expect(401);
    await me(a, login.body.access_token).expect(401);

    await a.http().post('/v1/auth/refresh').send({ refresh_token: 'rt_nonsense' }).expect(401);
  });

  it('changes the own password with the current one, ending the other sessions but not this one', async () => {
    const u = await a.user('agent');
    const other = await a.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const newPassword = 'violet harbour lantern 1987';
    const wrong = await a
      .http()
      .post('/v1/auth/password')
      .set('authorization', `Bearer ${u.token}`)
      .send({ current_password: 'not my password at all', new_password: newPassword })
      .expect(400);
    expect(wrong.body.error.details[0].path).to.equal('body.current_password');
    await a
      .http()
      .post('/v1/auth/password')
      .set('authorization', `Bearer ${u.token}`)
      .send({ current_password: u.password, new_password: newPassword })
      .expect(204);
    await me(a, u.token).expect(200);
    expect(await eventually(refusedOn(b, other.body.access_token))).to.equal(true);
    await a.http().post('/v1/auth/refresh').send({ refresh_token: other.body.refresh_token }).expect(401);
    await a.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(401);
    await a.http().post('/v1/auth/login').send({ email: u.email, password: newPassword }).expect(200);

    const key = await a.http().post('/v1/api-keys').set('authorization', admin).send({ name: 'k', role: 'agent' });
    await a
      .http()
      .post('/v1/auth/password')
      .set('authorization', `Bearer ${key.body.api_key}`)
      .send({ current_password: 'x', new_password: newPassword })
      .expect(403);
  });

  it("lets an admin reset a user's password, which ends all of the user's sessions", async () => {
    const u = await a.user('agent');
    const password = 'copper meadow whistle 4412';
    await a.http().post(`/v1/users/${u.email}/password`).set('authorization', admin).send({ password }).expect(204);
    expect(await eventually(refusedOn(b, u.token))).to.equal(true);
    await a.http().post('/v1/auth/login').send({ email: u.email, password }).expect(200);
    await a
      .http()
      .post('/v1/users/nobody@freeda.test/password')
      .set('authorization', admin)
      .send({ password })
      .expect(404);
  });

  it('lists API keys with prefix and last use, recording a use at most once a minute', async () => {
    const created = await a
      .http()
      .post('/v1/api-keys')
      .set('authorization', admin)
      .send({ name: 'CRM', role: 'agent' });
    const keyId = created.body.key_id as string;
    const find = async () =>
      (await a.http().get('/v1/api-keys').set('authorization', admin).expect(200)).body.api_keys.find(
        (k: { key_id: string }) => k.key_id === keyId,
      );
    const before = await find();
    expect(before).to.include({ name: 'CRM', role: 'agent', prefix: `fk_${keyId}`, last_used_at: null });
    expect(JSON.stringify(before)).not.to.include(created.body.api_key.split('.')[1]);

    const spy = spyOnCommands(a.runtime.dynamo.client);
    for (let i = 0; i < 20; i++) await me(a, created.body.api_key).expect(200);
    const writes = spy.sent.filter((c) => c.name === 'UpdateItemCommand');
    expect(writes.length, '20 requests with the key').to.equal(1);
    const recorded = async () => (await find()).last_used_at !== null;
    expect(await eventually(recorded)).to.equal(true);
    // The other task reads the recorded use and does not write again.
    const spyB = spyOnCommands(b.runtime.dynamo.client);
    await me(b, created.body.api_key).expect(200);
    await me(b, created.body.api_key).expect(200);
    expect(spyB.sent.filter((c) => c.name === 'UpdateItemCommand')).to.have.length(0);
  });

  it('keeps an audit trail of account changes and logins, with the client address and never a password', async () => {
    const u = await a.user('agent');
    await a.http().post('/v1/auth/login').send({ email: u.email, password: 'a wrong guess here' }).expect(401);
    await a.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({ role: 'manager' }).expect(200);
    const key = await a.http().post('/v1/api-keys').set('authorization', admin).send({ name: 'audit', role: 'agent' });
    await a.http().delete(`/v1/api-keys/${key.body.key_id}`).set('authorization', admin).expect(204);
    await a.http().delete(`/v1/users/${u.email}`).set('authorization', admin).expect(204);

    const trail = a.logs
      .map((l) => JSON.parse(l))
      .filter((l) => l.audit && (l.subject === u.email || l.subject === key.body.key_id));
    expect(trail.map((e) => e.audit)).to.deep.equal([
      'user.created',
      'auth.login',
      'auth.login_failed',
      'user.updated',
      'api_key.created',
      'api_key.revoked',
      'user.deleted',
    ]);
    const login = trail.find((e) => e.audit === 'auth.login');
    expect(login).to.include({ actor: u.email, subject: u.email });
    expect(login.client_ip).to.match(/127\.0\.0\.1/);
    expect(trail.find((e) => e.audit === 'user.updated')).to.deep.include({
      actor: 'bootstrap-admin',
      changes: ['role'],
    });
    const text = a.logs.join('\n');
    expect(text).not.to.include(u.password);
    expect(text).not.to.include('a wrong guess here');
  });
});
