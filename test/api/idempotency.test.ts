/**
 * `Idempotency-Key` on the creation routes, through the real app on real tables: a client's retry gets the
 * first response again instead of a second ticket, message, user or API key; the key belongs to its caller;
 * a failed first attempt never locks it.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import type { Response } from 'supertest';
import { createDynamoClients } from '../../api/db/client.js';
import { ensureTables } from '../../api/db/schema.js';
import { IDEMPOTENCY_KEY_PREFIX } from '../../api/db/tables.js';
import { eventually, startAssistantHarness } from '../support/assistant.js';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';

const KEY = 'Idempotency-Key';
const asAdmin = `Bearer ${ADMIN_KEY}`;

function expectReplayOf(replay: Response, first: Response): void {
  expect(replay.status).to.equal(first.status);
  expect(replay.headers['idempotent-replayed']).to.equal('true');
  expect(replay.text).to.equal(first.text);
  for (const header of ['content-type', 'location', 'etag']) {
    expect(replay.headers[header], header).to.equal(first.headers[header]);
  }
}

describe('Idempotency-Key on creation routes', () => {
  let h: Harness;
  let agent: { token: string; email: string };
  let other: { token: string; email: string };

  before(async function () {
    // The first suite of a run may wait for DynamoDB Local's JVM to start on a busy machine.
    this.timeout(120_000);
    // One proxy hop: X-Forwarded-For names the client, so tests can speak from several addresses.
    h = await startHarness({ TRUST_PROXY_HOPS: '1' });
    agent = await h.user('agent');
    other = await h.user('agent');
  });
  after(() => h.close());

  const openTicket = (key: string | undefined, body: unknown, from = '203.0.113.10') => {
    const req = h.http().post('/v1/public/tickets').set('x-forwarded-for', from);
    if (key !== undefined) req.set(KEY, key);
    return req.send(body as object);
  };
  const ticketsNamed = async (name: string) => {
    const res = await h.http().get('/v1/tickets?limit=100').set('authorization', `Bearer ${agent.token}`).expect(200);
    return (res.body.items as Array<{ customer_name?: string }>).filter((t) => t.customer_name === name);
  };
  const conversation = async (ticketId: string) => {
    const res = await h.http().get(`/v1/tickets/${ticketId}`).set('authorization', `Bearer ${agent.token}`).expect(200);
    return res.body.messages as Array<{ content: string; type: string }>;
  };

  describe('a repeat of the same request gets the first response, and nothing is created twice', () => {
    it('public ticket creation: the same status, Location and bytes (access token included), marked replayed', async () => {
      const key = randomUUID();
      const name = `Replay ${key}`;
      const body = { message: 'My fibre box blinks red since this morning', customer_name: name };
      const first = await openTicket(key, body).expect(201);
      expect(first.headers).to.not.have.property('idempotent-replayed');
      const replay = await openTicket(key, body);
      expectReplayOf(replay, first);
      expect(replay.body.access_token).to.equal(first.body.access_token);
      expect(await ticketsNamed(name)).to.have.length(1);
      // The replayed token is the ticket's: it opens it.
      await h
        .http()
        .get(`/v1/public/tickets/${first.body.ticket.ticket_id}`)
        .set('authorization', `Bearer ${replay.body.access_token}`)
        .expect(200);
    });

    it('compares bodies as JSON: another key order or spacing is the same request', async () => {
      const key = randomUUID();
      const name = `Order ${key}`;
      const first = await openTicket(key, { message: 'Hello, my line is down', customer_name: name }).expect(201);
      const replay = await openTicket(key, `{ "customer_name" : "${name}",\n "message": "Hello, my line is down" }`)
        .set('content-type', 'application/json')
        .expect(201);
      expectReplayOf(replay, first);
      expect(await ticketsNamed(name)).to.have.length(1);
    });

    it('public customer message: one message stored, the same response twice', async () => {
      const t = await h.ticket({ message: 'The TV decoder does not start', customer_name: 'Carla' });
      const key = randomUUID();
      const send = () =>
        h
          .http()
          .post(`/v1/public/tickets/${t.id}/messages`)
          .set('authorization', `Bearer ${t.token}`)
          .set(KEY, key)
          .send({ content: `Still broken (${key})` });
      const first = await send().expect(201);
      const replay = await send();
      expectReplayOf(replay, first);
      const stored = (await conversation(t.id)).filter((m) => m.content === `Still broken (${key})`);
      expect(stored).to.have.length(1);
    });

    it('agent reply: one message stored, the same body and ETag twice', async () => {
      const t = await h.ticket({ message: 'Please call me back', customer_name: 'Dan' });
      const key = randomUUID();
      const send = () =>
        h
          .http()
          .post(`/v1/tickets/${t.id}/messages`)
          .set('authorization', `Bearer ${agent.token}`)
          .set(KEY, key)
          .send({ content: `We are on it (${key})` });
      const first = await send().expect(201);
      expect(first.headers.etag).to.be.a('string');
      const replay = await send();
      expectReplayOf(replay, first);
      const stored = (await conversation(t.id)).filter((m) => m.content === `We are on it (${key})`);
      expect(stored).to.have.length(1);
    });

    it('user creation: the replay is the first 201, while the same body under a new key finds the user exists', async () => {
      const key = randomUUID();
      const body = { email: `idem-${key}@freeda.test`, name: 'Eve', role: 'agent', password: 'a-long-enough-password' };
      const create = (k: string) => h.http().post('/v1/users').set('authorization', asAdmin).set(KEY, k).send(body);
      const first = await create(key).expect(201);
      expectReplayOf(await create(key), first);
      const again = await create(randomUUID()).expect(409);
      expect(again.body.error.code).to.equal('conflict');
    });

    it('API key creation: the replay hands back the same key (it works), no second key is made', async () => {
      const key = randomUUID();
      const create = () =>
        h.http().post('/v1/api-keys').set('authorization', asAdmin).set(KEY, key).send({ name: 'CRM', role: 'agent' });
      const first = await create().expect(201);
      const replay = await create();
      expectReplayOf(replay, first);
      expect(replay.body.key_id).to.equal(first.body.key_id);
      const me = await h.http().get('/v1/auth/me').set('authorization', `Bearer ${replay.body.api_key}`).expect(200);
      expect(me.body.id).to.equal(`api-key:${first.body.key_id}`);
    });

    it('leaves requests without the header alone: two identical requests open two tickets', async () => {
      const name = `No key ${randomUUID()}`;
      const body = { message: 'Two separate problems', customer_name: name };
      const a = await openTicket(undefined, body).expect(201);
      const b = await openTicket(undefined, body).expect(201);
      expect(b.headers).to.not.have.property('idempotent-replayed');
      expect(a.body.ticket.ticket_id).to.not.equal(b.body.ticket.ticket_id);
      expect(await ticketsNamed(name)).to.have.length(2);
    });
  });

  describe('a key reused for another request', () => {
    it('answers 422 idempotency_key_reused for another body and creates nothing', async () => {
      const key = randomUUID();
      const name = `Reuse ${key}`;
      await openTicket(key, { message: 'First problem', customer_name: name }).expect(201);
      const res = await openTicket(key, { message: 'Another problem', customer_name: name }).expect(422);
      expect(res.body.error.code).to.equal('idempotency_key_reused');
      expect(res.body.error.request_id).to.be.a('string');
      expect(await ticketsNamed(name)).to.have.length(1);
    });

    it('answers 422 for the same key on another route or ticket of the same caller', async () => {
      const [a, b] = [await h.ticket(), await h.ticket()];
      const key = randomUUID();
      const reply = (id: string) =>
        h
          .http()
          .post(`/v1/tickets/${id}/messages`)
          .set('authorization', `Bearer ${agent.token}`)
          .set(KEY, key)
          .send({ content: 'Same words' });
      await reply(a.id).expect(201);
      expect((await reply(b.id).expect(422)).body.error.code).to.equal('idempotency_key_reused');
      expect((await conversation(b.id)).filter((m) => m.content === 'Same words')).to.have.length(0);
    });
  });

  describe('keys belong to their caller', () => {
    it('public ticket creation: another client address with the same key and body opens its own ticket', async () => {
      const key = randomUUID();
      const name = `Shared ${key}`;
      const body = { message: 'Same words from two people', customer_name: name };
      const mine = await openTicket(key, body, '198.51.100.1').expect(201);
      const theirs = await openTicket(key, body, '198.51.100.2').expect(201);
      expect(theirs.headers).to.not.have.property('idempotent-replayed');
      expect(theirs.body.access_token).to.not.equal(mine.body.access_token);
      expect(await ticketsNamed(name)).to.have.length(2);
    });

    it('public messages: each ticket keeps its own; a wrong token never gets the stored response', async () => {
      const [a, b] = [await h.ticket(), await h.ticket()];
      const key = randomUUID();
      const write = (id: string, token: string) =>
        h
          .http()
          .post(`/v1/public/tickets/${id}/messages`)
          .set('authorization', `Bearer ${token}`)
          .set(KEY, key)
          .send({ content: 'Any news?' });
      const first = await write(a.id, a.token).expect(201);
      const onB = await write(b.id, b.token).expect(201);
      expect(onB.headers).to.not.have.property('idempotent-replayed');
      expect(onB.text).to.not.equal(first.text);
      // B's token on A's ticket, with A's key and body: refused as any wrong token is, never A's response.
      const intruder = await write(a.id, b.token).expect(404);
      expect(intruder.headers).to.not.have.property('idempotent-replayed');
      expect(intruder.text).to.not.include(first.body.message.message_id);
    });

    it('agents: two agents with the same key each add their reply', async () => {
      const t = await h.ticket();
      const key = randomUUID();
      const reply = (token: string) =>
        h
          .http()
          .post(`/v1/tickets/${t.id}/messages`)
          .set('authorization', `Bearer ${token}`)
          .set(KEY, key)
          .send({ content: 'Looking into it' });
      await reply(agent.token).expect(201);
      const second = await reply(other.token).expect(201);
      expect(second.headers).to.not.have.property('idempotent-replayed');
      expect((await conversation(t.id)).filter((m) => m.content === 'Looking into it')).to.have.length(2);
    });

    it('admins: the bootstrap key and an admin account with the same key each create their API key', async () => {
      const admin = await h.user('admin');
      const key = randomUUID();
      const create = (bearer: string) =>
        h
          .http()
          .post('/v1/api-keys')
          .set('authorization', `Bearer ${bearer}`)
          .set(KEY, key)
          .send({ name: 'Same', role: 'agent' });
      const a = await create(ADMIN_KEY).expect(201);
      const b = await create(admin.token).expect(201);
      expect(b.headers).to.not.have.property('idempotent-replayed');
      expect(b.body.api_key).to.not.equal(a.body.api_key);
    });
  });

  describe('failed attempts never lock a key', () => {
    it('a request refused with a 4xx keeps nothing: the corrected request runs under the same key', async () => {
      const key = randomUUID();
      const name = `Fixed ${key}`;
      const refused = await openTicket(key, { message: '', customer_name: name }).expect(400);
      expect(refused.body.error.details[0].path).to.equal('body.message');
      const fixed = await openTicket(key, { message: 'Now with a message', customer_name: name }).expect(201);
      expect(fixed.headers).to.not.have.property('idempotent-replayed');
      expect(await ticketsNamed(name)).to.have.length(1);
    });

    it('a request that failed with a 5xx frees its key: the retry runs and its response is kept', async () => {
      const setup = createDynamoClients({ endpoint: h.endpoint, timeoutMs: 5000 });
      try {
        // The accounts table goes away: creating a user is a 503 (the idempotency records live elsewhere).
        await setup.client.send(new DeleteTableCommand({ TableName: h.tables.principals }));
        await eventually('the principals table is gone', () =>
          setup.client.send(new DescribeTableCommand({ TableName: h.tables.principals })).then(
            () => false,
            (err) => err instanceof ResourceNotFoundException,
          ),
        );
        const key = randomUUID();
        const body = {
          email: `retry-${key}@freeda.test`,
          name: 'Fay',
          role: 'agent',
          password: 'a-long-enough-password',
        };
        const create = () => h.http().post('/v1/users').set('authorization', asAdmin).set(KEY, key).send(body);
        const failed = await create().expect(503);
        expect(failed.headers['retry-after']).to.be.a('string');

        await ensureTables(setup.client, h.tables);
        const retried = await create().expect(201);
        expect(retried.headers).to.not.have.property('idempotent-replayed');
        expectReplayOf(await create(), retried);
      } finally {
        await ensureTables(setup.client, h.tables);
        setup.client.destroy();
      }
      // The accounts made before the outage are gone with their table; make the suite's agents again.
      agent = await h.user('agent');
      other = await h.user('agent');
    });
  });

  describe('records out of reach', () => {
    it('answers 503 rather than running a keyed request unprotected; requests without a key still run', async () => {
      const setup = createDynamoClients({ endpoint: h.endpoint, timeoutMs: 5000 });
      try {
        await setup.client.send(new DeleteTableCommand({ TableName: h.tables.ratelimits }));
        await eventually('the rate-limits table is gone', () =>
          setup.client.send(new DescribeTableCommand({ TableName: h.tables.ratelimits })).then(
            () => false,
            (err) => err instanceof ResourceNotFoundException,
          ),
        );
        const name = `Unprotected ${randomUUID()}`;
        const body = { message: 'Is anyone there?', customer_name: name };
        const refused = await openTicket(randomUUID(), body).expect(503);
        expect(refused.headers['retry-after']).to.be.a('string');
        expect(await ticketsNamed(name)).to.have.length(0);
        // The rate limits let requests through while their counters are down.
        await openTicket(undefined, body).expect(201);
      } finally {
        await ensureTables(setup.client, h.tables);
        setup.client.destroy();
      }
    });
  });

  describe('concurrent requests with one key', () => {
    it('run the request once: one 201, every other answer a 409 or the replay of that 201', async () => {
      const key = randomUUID();
      const name = `Race ${key}`;
      const body = { message: 'Sent six times at once by a nervous client', customer_name: name };
      const answers = await Promise.all(Array.from({ length: 6 }, () => openTicket(key, body)));
      const firsts = answers.filter((r) => r.status === 201 && !r.headers['idempotent-replayed']);
      expect(firsts).to.have.length(1);
      const [first] = firsts as [Response];
      for (const r of answers) {
        if (r === first) continue;
        if (r.status === 409) {
          expect(r.body.error.code).to.equal('idempotency_request_in_progress');
          expect(r.headers['retry-after']).to.equal('1');
        } else {
          expectReplayOf(r, first);
        }
      }
      expect(await ticketsNamed(name)).to.have.length(1);
      expectReplayOf(await openTicket(key, body), first);
    });
  });

  describe('key format', () => {
    for (const [what, value] of [
      ['an empty key', ''],
      ['a key of 256 characters', 'k'.repeat(256)],
      ['a key with a non-ASCII character', 'clé-1'],
      ['a key with a tab', 'a\tb'],
    ] as const) {
      it(`refuses ${what} with 400 naming the header, and creates nothing`, async () => {
        const name = `Bad key ${randomUUID()}`;
        const res = await openTicket(value, { message: 'hello there', customer_name: name }).expect(400);
        expect(res.body.error.code).to.equal('invalid_request');
        expect(res.body.error.details[0].path).to.equal('headers.idempotency-key');
        expect(await ticketsNamed(name)).to.have.length(0);
      });
    }

    it('accepts 255 printable ASCII characters, spaces and symbols included', async () => {
      const key = `${'x'.repeat(241)} !"#$%&'()*+,-`;
      expect(key).to.have.length(255);
      const name = `Long key ${randomUUID()}`;
      const first = await openTicket(key, { message: 'hello there', customer_name: name }).expect(201);
      expectReplayOf(await openTicket(key, { message: 'hello there', customer_name: name }), first);
    });
  });

  describe('what is stored', () => {
    it('keeps each response 24 hours (TTL attribute) and nothing readable: no key, caller, token or API key', async () => {
      const key = `stored-${randomUUID()}`;
      const before = Math.floor(Date.now() / 1000);
      const ticket = await openTicket(key, { message: 'Check my storage', customer_name: 'Gus' }, '192.0.2.77').expect(
        201,
      );
      const apiKey = await h
        .http()
        .post('/v1/api-keys')
        .set('authorization', asAdmin)
        .set(KEY, key)
        .send({ name: 'Stored', role: 'agent' })
        .expect(201);
      const after = Math.ceil(Date.now() / 1000);

      const { Items = [] } = await h.runtime.dynamo.doc.send(new ScanCommand({ TableName: h.tables.ratelimits }));
      const records = Items.filter((i) => String(i.limit_key).startsWith(IDEMPOTENCY_KEY_PREFIX));
      const recent = records.filter((r) => r.expires_at >= before + 86_400);
      expect(recent.length).to.be.at.least(2);
      for (const r of recent) {
        expect(r.record_state).to.equal('done');
        expect(r.expires_at).to.be.at.most(after + 86_400);
        expect(r.response_body).to.be.instanceOf(Uint8Array);
      }
      const dump = JSON.stringify(records, (_k, v) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
      );
      for (const secret of [key, '192.0.2.77', ticket.body.access_token, apiKey.body.api_key, 'Check my storage']) {
        expect(dump).to.not.include(secret);
      }
    });
  });

  describe('what it costs', () => {
    it('adds two writes to a keyed request (reserve, keep); a replay is one refused write and one read, nothing else', async () => {
      const spy = spyOnCommands(h.runtime.dynamo.client);
      const onRequestTable = () =>
        spy.sent
          .filter((c) => c.input.TableName === h.tables.ratelimits)
          .map((c) => {
            // The document client's input, before or after marshalling: `limit_key` is a string or `{S}`.
            const item = (c.input.Key ?? c.input.Item ?? {}) as { limit_key?: string | { S?: string } };
            const key = typeof item.limit_key === 'string' ? item.limit_key : (item.limit_key?.S ?? '');
            return `${c.name}${key.startsWith(IDEMPOTENCY_KEY_PREFIX) ? ' idempotency' : ' rate-limit'}`;
          });
      const key = randomUUID();
      const body = { message: 'Counting calls', customer_name: 'Jo' };

      spy.clear();
      await openTicket(key, body).expect(201);
      expect(onRequestTable()).to.deep.equal([
        'PutItemCommand idempotency',
        'UpdateItemCommand rate-limit',
        'PutItemCommand idempotency',
      ]);
      const ticketCalls = spy.sent.filter((c) => c.input.TableName === h.tables.tickets).length;

      spy.clear();
      await openTicket(key, body).expect(201);
      expect(onRequestTable()).to.deep.equal(['PutItemCommand idempotency', 'GetItemCommand idempotency']);
      expect(spy.sent.filter((c) => c.input.TableName === h.tables.tickets)).to.have.length(0);
      expect(ticketCalls).to.be.above(0);
    });
  });

  describe('the OpenAPI document', () => {
    it('declares the header, the replay marker, 409 and 422 on the five creation routes, and only there', async () => {
      const doc = (await h.http().get('/openapi.json').expect(200)).body;
      const creation = [
        ['/v1/public/tickets', 'post'],
        ['/v1/public/tickets/{ticket_id}/messages', 'post'],
        ['/v1/tickets/{ticket_id}/messages', 'post'],
        ['/v1/users', 'post'],
        ['/v1/api-keys', 'post'],
      ] as const;
      for (const [path, method] of creation) {
        const op = doc.paths[path][method];
        const header = op.parameters.find((p: { in: string; name: string }) => p.in === 'header' && p.name === KEY);
        expect(header, path).to.include({ required: false });
        expect(header.schema).to.include({ maxLength: 255 });
        expect(op.responses['201'].headers, path).to.have.property('Idempotent-Replayed');
        expect(op.responses, path).to.include.keys('409', '422');
      }
      const login = doc.paths['/v1/auth/login'].post;
      expect(JSON.stringify(login)).to.not.include(KEY);
    });
  });
});

describe('Idempotency-Key with a request still running', () => {
  let fake: FakeMistral;
  let h: Harness;

  before(async () => {
    fake = await startFakeMistral();
    // The assistant's reply is part of opening a ticket: holding it keeps the creation in flight.
    h = await startAssistantHarness(fake, { ASSISTANT_REPLY_TIMEOUT_MS: '30000', MISTRAL_TIMEOUT_MS: '30000' });
  });
  after(async () => {
    await h.close();
    await fake.close();
  });

  it('answers a repeat 409 with Retry-After while the first runs, and the first response once it has ended', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.next('reply', { until: held, answer: { content: 'Redémarrez votre box.\n--\nAgent Free' } });
    const key = randomUUID();
    const body = { message: 'Ma connexion internet coupe tous les soirs', customer_name: 'Hugo' };
    const open = () => h.http().post('/v1/public/tickets').set('Idempotency-Key', key).send(body);

    const first = open().then((r) => r);
    await eventually('the first request reaches the assistant', () => fake.calls('reply').length === 1);
    const during = await open().expect(409);
    expect(during.body.error.code).to.equal('idempotency_request_in_progress');
    expect(during.headers['retry-after']).to.equal('1');
    // Another body under the running key is a misuse whatever the first request's fate.
    const other = await h.http().post('/v1/public/tickets').set('Idempotency-Key', key).send({ message: 'other' });
    expect(other.status).to.equal(422);

    release();
    const done = await first;
    expect(done.status).to.equal(201);
    expectReplayOf(await open(), done);
    expect(fake.calls('reply')).to.have.length(1);
  });
});

describe('Idempotency-Key and the creation quota', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ RATE_LIMIT_TICKETS_PER_HOUR: '2' });
  });
  after(() => h.close());

  it('costs no quota for a replay, and still answers a replay once the quota is spent', async () => {
    const key = randomUUID();
    const body = { message: 'My ticket of this hour', customer_name: 'Ivy' };
    const open = (k: string) => h.http().post('/v1/public/tickets').set('Idempotency-Key', k).send(body);
    const first = await open(key).expect(201);
    for (let i = 0; i < 3; i++) expectReplayOf(await open(key), first);
    // Two tickets an hour: the replays took none, so a second ticket still opens; a third does not.
    await open(randomUUID()).expect(201);
    const third = await open(randomUUID()).expect(429);
    expect(third.body.error.code).to.equal('rate_limited');
    expectReplayOf(await open(key), first);
  });
});
