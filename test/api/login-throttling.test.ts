import type { Server } from 'node:http';
import { expect } from 'chai';
import supertest from 'supertest';
import { type Harness, startHarness } from '../support/harness.js';

const PER_ACCOUNT = 5;

describe('login throttling with device tokens (an outsider cannot lock the owner out)', () => {
  let h: Harness;
  let server: Server;
  let http: () => ReturnType<typeof supertest>;
  before(async () => {
    h = await startHarness({
      TRUST_PROXY_HOPS: '1',
      RATE_LIMIT_LOGINS_PER_ACCOUNT: String(PER_ACCOUNT),
      RATE_LIMIT_LOGINS_PER_CLIENT: '20',
    });
    // One listening server for the whole burst (supertest would otherwise open one per request).
    server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    http = () => supertest(server);
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await h.close();
  });

  const login = (body: object, from: string, cookie?: string) => {
    const req = http().post('/v1/auth/login').set('x-forwarded-for', from);
    return (cookie ? req.set('cookie', cookie) : req).send(body);
  };

  it('returns a device token in the body and as an HttpOnly, SameSite cookie scoped to the login', async () => {
    const u = await h.user('agent');
    const res = await login({ email: u.email, password: u.password }, '198.51.100.1').expect(200);
    expect(res.body.device_token).to.match(/^dv_/);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).to.include(`device_token=${res.body.device_token}`);
    expect(cookie)
      .to.match(/HttpOnly/)
      .and.to.match(/SameSite=Strict/)
      .and.to.match(/Path=\/v1\/auth\/login/);
    // Not over plain HTTP outside production (the cookie would never come back).
    expect(cookie).not.to.match(/Secure/);
    // The same device presenting it keeps its token.
    const again = await login(
      { email: u.email, password: u.password, device_token: res.body.device_token },
      '198.51.100.1',
    ).expect(200);
    expect(again.body.device_token).to.equal(res.body.device_token);
  });

  it('counts failed attempts only: many successful logins never use up the quota', async () => {
    const u = await h.user('agent');
    for (let i = 0; i < PER_ACCOUNT * 3; i++) {
      await login({ email: u.email, password: u.password }, '198.51.100.2').expect(200);
    }
  });

  it("keeps the owner's known device working through 1,000 wrong attempts from 100 addresses", async () => {
    const owner = await h.user('agent');
    const first = await login({ email: owner.email, password: owner.password }, '203.0.113.7').expect(200);
    const device = first.body.device_token as string;

    const statuses: number[] = [];
    const attempts = Array.from({ length: 1000 }, (_, i) => ({
      from: `10.66.${Math.floor(i / 10) % 100}.${(i % 10) + 1}`,
      password: `outsider guess number ${i}`,
    }));
    // Ten at a time: the limiter's counter is atomic, so concurrency cannot buy extra guesses.
    for (let i = 0; i < attempts.length; i += 10) {
      const batch = attempts.slice(i, i + 10);
      const answers = await Promise.all(batch.map((a) => login({ email: owner.email, password: a.password }, a.from)));
      statuses.push(...answers.map((r) => r.status));
      if (i === 500) {
        // Mid-burst: the owner, from the device they used before (token in the body), gets in.
        await login({ email: owner.email, password: owner.password, device_token: device }, '203.0.113.7').expect(200);
      }
    }
    const guesses = statuses.filter((s) => s === 401).length;
    expect(guesses, 'password checks the outsider got').to.be.at.most(PER_ACCOUNT);
    expect(statuses.filter((s) => s === 429).length).to.equal(1000 - guesses);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).to.deep.equal([]);

    // After the burst: the known device, by body or by cookie, even after mistyping once.
    await login({ email: owner.email, password: 'owner mistyped it', device_token: device }, '203.0.113.7').expect(401);
    await login({ email: owner.email, password: owner.password, device_token: device }, '203.0.113.7').expect(200);
    await login({ email: owner.email, password: owner.password }, '203.0.113.7', `device_token=${device}`).expect(200);
    // An unknown device (no token, or one issued for another account) is locked out for this account.
    const locked = await login({ email: owner.email, password: owner.password }, '203.0.113.8').expect(429);
    expect(locked.body.error.message).to.match(/unknown devices/);
    const other = await h.user('agent');
    const foreign = await login({ email: other.email, password: other.password }, '203.0.113.9').expect(200);
    await login(
      { email: owner.email, password: owner.password, device_token: foreign.body.device_token },
      '203.0.113.9',
    ).expect(429);
  }).timeout(180_000);
});
