import { expect } from 'chai';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';

describe('errors and request logs', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('answers an unknown route with a JSON 404 in the error shape', async () => {
    const res = await h.http().get('/v1/nothing-here').expect(404).expect('content-type', /json/);
    expect(res.body.error).to.include({ code: 'not_found' });
    expect(res.body.error.request_id).to.equal(res.headers['x-request-id']);
  });

  it('echoes a well-formed x-request-id and replaces a malformed one', async () => {
    const echoed = await h.http().get('/health/live').set('x-request-id', 'abc-123.DEF').expect(200);
    expect(echoed.headers['x-request-id']).to.equal('abc-123.DEF');
    const replaced = await h.http().get('/health/live').set('x-request-id', 'bad id\twith spaces').expect(200);
    expect(replaced.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
  });

  it('logs one JSON line per request with request id, method, route template, status and latency', async () => {
    const t = await h.ticket();
    await h
      .http()
      .get(`/v1/public/tickets/${t.id}`)
      .set('authorization', `Bearer ${t.token}`)
      .set('x-request-id', 'trace-me-1')
      .expect(200);
    const line = h.logs.map((l) => JSON.parse(l)).find((l) => l.request_id === 'trace-me-1' && l.message === 'request');
    expect(line).to.include({ method: 'GET', route: '/v1/public/tickets/:ticket_id', status: 200 });
    expect(line.latency_ms).to.be.a('number');
  });

  it('never writes a password, token, key or bearer credential to the logs', async () => {
    const user = await h.user('admin');
    const t = await h.ticket();
    const key = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ name: 'k', role: 'agent' });
    await h.http().get('/v1/tickets').set('authorization', `Bearer ${key.body.api_key}`).expect(200);
    await h.http().post('/v1/auth/login').send({ email: user.email, password: 'wrong password here' }).expect(401);
    // Something the error handler logs in full: a failure inside a request carrying credentials.
    h.runtime.deps.logger.error('diagnostic', {
      headers: { authorization: `Bearer ${user.token}` },
      note: `key ${key.body.api_key}`,
    });
    const all = h.logs.join('\n');
    for (const secret of [ADMIN_KEY, user.password, user.token, t.token, key.body.api_key, 'wrong password here']) {
      expect(all).to.not.include(secret);
    }
    expect(all).to.include('[redacted]');
  });

  it('hides internals of an unexpected failure behind a 500 with the request id, and logs the cause', async () => {
    const original = h.runtime.deps.tickets.list;
    h.runtime.deps.tickets.list = async () => {
      throw new Error('boom: secret internals');
    };
    try {
      const user = await h.user('agent');
      const res = await h.http().get('/v1/tickets').set('authorization', `Bearer ${user.token}`).expect(500);
      expect(res.body.error).to.deep.include({ code: 'internal', message: 'Internal error' });
      expect(JSON.stringify(res.body)).to.not.include('boom');
      expect(
        h.logs.some((l) => l.includes('boom: secret internals') && l.includes(res.body.error.request_id)),
      ).to.equal(true);
    } finally {
      h.runtime.deps.tickets.list = original;
    }
  });

  it('serves an OpenAPI 3.1 document generated from the request schemas', async () => {
    const res = await h.http().get('/openapi.json').expect(200);
    expect(res.body.openapi).to.equal('3.1.0');
    const paths = Object.keys(res.body.paths);
    for (const p of [
      '/v1/public/tickets',
      '/v1/public/tickets/{ticket_id}',
      '/v1/tickets',
      '/v1/tickets/{ticket_id}/history',
      '/v1/auth/login',
      '/v1/api-keys/{key_id}',
      '/health/ready',
    ]) {
      expect(paths).to.include(p);
    }
    const create = res.body.paths['/v1/public/tickets'].post;
    expect(create.responses).to.include.keys('201', '400', '429');
    const listParams = res.body.paths['/v1/tickets'].get.parameters.map((p: { name: string }) => p.name);
    expect(listParams).to.include.members([
      'status',
      'channel',
      'assigned_to',
      'created_from',
      'created_to',
      'limit',
      'cursor',
    ]);
    expect(res.body.components.schemas.Channel.enum).to.deep.equal(['chat', 'email', 'phone', 'whatsapp', 'sms']);
  });

  it('sends no CORS headers to an origin that is not configured', async () => {
    const res = await h.http().get('/v1/tickets').set('origin', 'https://evil.example').expect(401);
    expect(res.headers).to.not.have.property('access-control-allow-origin');
  });

  it('allows exactly the configured CORS origins', async () => {
    const other = await startHarness({ CORS_ORIGINS: 'https://support.freeda.example' });
    try {
      const ok = await other
        .http()
        .options('/v1/tickets')
        .set('origin', 'https://support.freeda.example')
        .set('access-control-request-method', 'GET')
        .expect(204);
      expect(ok.headers['access-control-allow-origin']).to.equal('https://support.freeda.example');
      const no = await other
        .http()
        .options('/v1/tickets')
        .set('origin', 'https://evil.example')
        .set('access-control-request-method', 'GET');
      expect(no.headers).to.not.have.property('access-control-allow-origin');
    } finally {
      await other.close();
    }
  });
});
