import { expect } from 'chai';
import { type Harness, startHarness } from '../support/harness.js';

const LIMITS = {
  TRUST_PROXY_HOPS: '1',
  RATE_LIMIT_TICKETS_PER_HOUR: '3',
  RATE_LIMIT_MESSAGES_PER_MINUTE: '4',
  RATE_LIMIT_LOGINS_PER_ACCOUNT: '3',
  RATE_LIMIT_LOGINS_PER_CLIENT: '5',
};

describe('rate limits', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(LIMITS);
  });
  afterEach(() => h.close());

  /** What the ALB forwards: whatever the client claimed, then the address it really came from. */
  const via = (clientIp: string, claimed?: string) => (claimed ? `${claimed}, ${clientIp}` : clientIp);
  const open = (app: Harness, xff: string) =>
    app.http().post('/v1/public/tickets').set('x-forwarded-for', xff).send({ message: 'help' });

  it('refuses the fourth ticket of the hour from one client with 429, Retry-After and the error shape', async () => {
    for (let i = 0; i < 3; i++) await open(h, via('203.0.113.7')).expect(201);
    const res = await open(h, via('203.0.113.7')).expect(429);
    expect(Number(res.headers['retry-after'])).to.be.within(1, 3600);
    expect(res.body.error).to.include({ code: 'rate_limited' });
    expect(res.body.error.request_id).to.be.a('string');
    await open(h, via('198.51.100.9')).expect(201);
  });

  it('cannot be evaded by forging X-Forwarded-For: only the hop the load balancer added counts', async () => {
    for (let i = 0; i < 3; i++) await open(h, via('203.0.113.7', `10.9.9.${i}`)).expect(201);
    await open(h, via('203.0.113.7', '10.9.9.99')).expect(429);
  });

  it('holds across tasks: two instances on the same tables share one budget', async () => {
    const second = await startHarness(LIMITS, h.tables);
    try {
      await open(h, via('203.0.113.8')).expect(201);
      await open(second, via('203.0.113.8')).expect(201);
      await open(h, via('203.0.113.8')).expect(201);
      await open(second, via('203.0.113.8')).expect(429);
    } finally {
      await second.close();
    }
  });

  it('slows down a client sending messages too fast', async () => {
    const t = await h.ticket();
    const send = () =>
      h
        .http()
        .post(`/v1/public/tickets/${t.id}/messages`)
        .set('x-forwarded-for', '192.0.2.1')
        .set('authorization', `Bearer ${t.token}`)
        .send({ content: 'hello?' });
    for (let i = 0; i < 4; i++) await send().expect(201);
    await send().expect(429);
  });

  it('limits failed login attempts per account from unknown devices, whatever address they come from, and per client address', async () => {
    const user = await h.user('agent');
    const attempt = (ip: string, email = user.email) =>
      h.http().post('/v1/auth/login').set('x-forwarded-for', ip).send({ email, password: 'guess' });
    // The harness's own (successful) login above did not count.
    await attempt('192.0.2.10').expect(401);
    await attempt('192.0.2.11').expect(401);
    await attempt('192.0.2.13').expect(401);
    const locked = await attempt('192.0.2.12').expect(429);
    expect(locked.body.error.code).to.equal('rate_limited');
    // Per client: five attempts on five different accounts, then refused.
    for (let i = 0; i < 5; i++) await attempt('192.0.2.50', `someone${i}@freeda.test`).expect(401);
    await attempt('192.0.2.50', 'someone-else@freeda.test').expect(429);
  });
});

describe('rate limits: what counts, and store failures', () => {
  it('counts only accepted tickets against the quota: invalid requests give their count back', async () => {
    const h = await startHarness({ TRUST_PROXY_HOPS: '1', RATE_LIMIT_TICKETS_PER_HOUR: '2' });
    try {
      const open = (body: object) =>
        h.http().post('/v1/public/tickets').set('x-forwarded-for', '192.0.2.77').send(body);
      for (let i = 0; i < 5; i++) await open({ message: '   ' }).expect(400);
      await open({ message: 'first real ticket' }).expect(201);
      await open({ message: 'second real ticket' }).expect(201);
      await open({ message: 'one too many' }).expect(429);
    } finally {
      await h.close();
    }
  });

  it('logs a failing limiter store as one JSON line and lets the request through', async () => {
    const { DeleteTableCommand } = await import('@aws-sdk/client-dynamodb');
    const h = await startHarness();
    try {
      await h.runtime.dynamo.client.send(new DeleteTableCommand({ TableName: h.tables.ratelimits }));
      await h.http().post('/v1/public/tickets').send({ message: 'the limiter is down' }).expect(201);
      const lines = h.logs.filter((l) => l.includes('rate limiter store error'));
      expect(lines.length).to.be.greaterThan(0);
      for (const line of lines) {
        const parsed = JSON.parse(line);
        expect(parsed).to.include({ level: 'error', limiter: 'tickets' });
        expect(parsed.error).to.match(/ResourceNotFoundException/);
      }
    } finally {
      await h.close();
    }
  });
});
