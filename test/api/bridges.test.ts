/**
 * Channel bridges (WhatsApp, SMS, e-mail gateways) on an `integration` API key: opening tickets for the
 * customers of their channel, writing as those customers, each channel message stored once, limits per key.
 */
import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import type { Response } from 'supertest';
import { TICKET_SK } from '../../api/db/tables.js';
import { startAssistantHarness } from '../support/assistant.js';
import { ticketEvents } from '../support/events.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies as the API sends them
type Json = Record<string, any>;

async function newKey(h: Harness, role = 'integration', name = 'WhatsApp bridge'): Promise<string> {
  const res = await h.http().post('/v1/api-keys').set('authorization', `Bearer ${ADMIN_KEY}`).send({ name, role });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.api_key as string;
}

const opening = (over: Json = {}): Json => ({
  channel: 'whatsapp',
  customer: { name: 'Alice Martin', phone: '+33 6 12-34-56-78', external_id: `wa-${randomUUID()}` },
  message: 'Ma fibre est coupée depuis ce matin',
  ...over,
});

function openFor(h: Harness, key: string, body: Json) {
  return h.http().post('/v1/tickets').set('authorization', `Bearer ${key}`).send(body);
}

function writeAs(h: Harness, key: string, ticketId: string, body: Json) {
  return h.http().post(`/v1/tickets/${ticketId}/messages`).set('authorization', `Bearer ${key}`).send(body);
}

async function conversation(h: Harness, ticketId: string): Promise<Json[]> {
  const res = await h
    .http()
    .get(`/v1/tickets/${ticketId}/messages?limit=100`)
    .set('authorization', `Bearer ${ADMIN_KEY}`)
    .expect(200);
  return res.body.items;
}

/** Every ticket of the suite's table whose customer is `externalId` (the list, page by page). */
async function ticketsOf(h: Harness, externalId: string): Promise<Json[]> {
  const found: Json[] = [];
  let cursor: string | undefined;
  do {
    const res = await h
      .http()
      .get(`/v1/tickets?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .expect(200);
    found.push(...res.body.items.filter((t: Json) => t.customer_external_id === externalId));
    cursor = res.body.next_cursor ?? undefined;
  } while (cursor);
  return found;
}

describe('channel bridges', () => {
  let fake: FakeMistral;
  let h: Harness;
  let bridge: string;

  before(async () => {
    fake = await startFakeMistral();
    h = await startAssistantHarness(fake);
    bridge = await newKey(h);
  });
  after(async () => {
    await h.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  describe('opening a ticket for a customer', () => {
    it("answers 201 with the ticket, the customer's message and the assistant's answer, and no access token", async () => {
      fake.next('reply', { content: 'Je suis désolé pour cette coupure. Redémarrez votre Freebox.\n--\nAgent Free' });
      const res = await openFor(h, bridge, opening()).expect(201);
      expect(res.body).to.have.keys('ticket', 'message', 'assistant_message');
      expect(res.body.ticket).to.include({ status: 'new', channel: 'whatsapp', customer_name: 'Alice Martin' });
      expect(res.body.message).to.include({ type: 'customer', content: 'Ma fibre est coupée depuis ce matin' });
      expect(res.body.assistant_message.type).to.equal('assistant');
      expect(res.body.assistant_message.content).to.match(/^Je suis désolé pour cette coupure/);
      expect(res.headers.location).to.equal(`/v1/tickets/${res.body.ticket.ticket_id}`);
      expect(res.headers.etag).to.equal(`"${res.body.ticket.version}"`);
      expect(JSON.stringify(res.body)).to.not.match(/access_token/);
      // The model read the customer's words.
      const turns = fake.calls('reply')[0]?.body.messages as Array<{ content: string }>;
      expect(turns.some((t) => t.content.includes('Ma fibre est coupée'))).to.equal(true);
    });

    it('stores the customer identity flat on the ticket: e-mail lower-cased, phone as +digits', async () => {
      const externalId = `wa-${randomUUID()}`;
      const res = await openFor(
        h,
        bridge,
        opening({
          channel: 'email',
          customer: {
            name: 'Bob',
            email: 'Bob.Durand@Example.COM',
            phone: '(33) 6 98 76 54 32',
            external_id: externalId,
          },
        }),
      ).expect(201);
      const read = await h
        .http()
        .get(`/v1/tickets/${res.body.ticket.ticket_id}`)
        .set('authorization', `Bearer ${bridge}`)
        .expect(200);
      expect(read.body).to.include({
        customer_name: 'Bob',
        customer_email: 'bob.durand@example.com',
        customer_phone: '+33698765432',
        customer_external_id: externalId,
        channel: 'email',
      });
    });

    it('refuses what a bridge gets wrong with 400 naming the field', async () => {
      const national = await openFor(
        h,
        bridge,
        opening({ customer: { phone: '06 12 34 56 78 x', external_id: 'c1' } }),
      ).expect(400);
      expect(national.body.error.details.map((d: Json) => d.path)).to.include('body.customer.phone');
      const noCustomerId = await openFor(h, bridge, opening({ customer: { name: 'Nobody' } })).expect(400);
      expect(noCustomerId.body.error.details.map((d: Json) => d.path)).to.include('body.customer.external_id');
      const noChannel = await openFor(h, bridge, { customer: { external_id: 'c1' }, message: 'hello' }).expect(400);
      expect(noChannel.body.error.details.map((d: Json) => d.path)).to.include('body.channel');
      const spaced = await openFor(h, bridge, opening({ external_message_id: 'has a space' })).expect(400);
      expect(spaced.body.error.details.map((d: Json) => d.path)).to.include('body.external_message_id');
    });

    it('writes one event per change: the ticket with its first message, then the assistant answer', async () => {
      const res = await openFor(h, bridge, opening()).expect(201);
      const id = res.body.ticket.ticket_id as string;
      // The analysis runs in the background and writes its own event: only the request's changes are counted.
      const events = (await ticketEvents(h, id)).filter((e) => e.type !== 'ticket.analyzed');
      expect(events.map((e) => e.type)).to.deep.equal(['ticket.created', 'message.created']);
      expect(events[0]?.data.message_id).to.equal(res.body.message.message_id);
      expect(events[1]?.data).to.include({ message_id: res.body.assistant_message.message_id, type: 'assistant' });
    });
  });

  describe('writing as the customer on a ticket', () => {
    it('stores a customer message, answered by the assistant as on the public route, with one event per change', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      fake.next('reply', { content: 'Pouvez-vous vérifier les voyants de votre box ?\n--\nAgent Free' });
      const res = await writeAs(h, bridge, id, { from: 'customer', content: 'Toujours rien ce soir' }).expect(201);
      expect(res.body.message).to.include({
        type: 'customer',
        content: 'Toujours rien ce soir',
        author_name: 'Alice Martin',
      });
      expect(res.body.assistant_message.type).to.equal('assistant');
      expect(res.body.assistant_message.content).to.match(/^Pouvez-vous vérifier les voyants/);
      expect(res.body.ticket.ticket_id).to.equal(id);
      expect(res.headers.etag).to.equal(`"${res.body.ticket.version}"`);
      const lastTurns = fake.calls('reply').at(-1)?.body.messages as Array<{ content: string }>;
      expect(lastTurns.some((t) => t.content.includes('Toujours rien ce soir'))).to.equal(true);

      const events = (await ticketEvents(h, id)).filter((e) => e.type !== 'ticket.analyzed');
      expect(events.map((e) => [e.type, e.data.type ?? null])).to.deep.equal([
        ['ticket.created', null],
        ['message.created', 'assistant'],
        ['message.created', 'customer'],
        ['message.created', 'assistant'],
      ]);
      const customerEvent = events[2];
      expect(customerEvent?.actor).to.equal('customer');
      expect(customerEvent?.data.message_id).to.equal(res.body.message.message_id);
      const messages = await conversation(h, id);
      expect(messages.map((m) => m.type)).to.deep.equal(['customer', 'assistant', 'customer', 'assistant']);
    });

    it('names the faulty field of a message, whichever kind of message the body is', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const paths = (res: Response) => res.body.error.details.map((d: Json) => d.path);
      const empty = await writeAs(h, bridge, id, { from: 'customer', content: '  ' }).expect(400);
      expect(paths(empty)).to.deep.equal(['body.content']);
      const unknown = await writeAs(h, bridge, id, { from: 'robot', content: 'x' }).expect(400);
      expect(paths(unknown)).to.deep.equal(['body.from']);
      expect(unknown.body.error.details[0].message).to.match(/"customer".*"agent"/);
      const noteAsCustomer = await writeAs(h, bridge, id, { from: 'customer', content: 'x', internal: true }).expect(
        400,
      );
      expect(paths(noteAsCustomer)).to.deep.equal(['body.internal']);
      const agent = await h.user('agent');
      const emptyReply = await writeAs(h, agent.token, id, { content: '' }).expect(400);
      expect(paths(emptyReply)).to.deep.equal(['body.content']);
    });

    it('reopens a recently closed ticket, refuses one closed past the reopen window (409) and an unknown one (404)', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const close = () =>
        h
          .http()
          .patch(`/v1/tickets/${id}`)
          .set('authorization', `Bearer ${ADMIN_KEY}`)
          .set('if-match', '*')
          .send({ status: 'closed' })
          .expect(200);
      await close();
      const reopened = await writeAs(h, bridge, id, { from: 'customer', content: 'Still broken' }).expect(201);
      expect(reopened.body.ticket.status).to.equal('in_progress');
      expect((await ticketEvents(h, id)).map((e) => e.type)).to.include('ticket.reopened');
      await close();
      // As if it had been closed eight days ago (the default window is seven).
      await h.runtime.dynamo.doc.send(
        new UpdateCommand({
          TableName: h.tables.tickets,
          Key: { ticket_id: id, sk: TICKET_SK },
          UpdateExpression: 'SET closed_at = :at',
          ExpressionAttributeValues: { ':at': new Date(Date.now() - 8 * 86_400_000).toISOString() },
        }),
      );
      const closed = await writeAs(h, bridge, id, { from: 'customer', content: 'Hello?' }).expect(409);
      expect(closed.body.error.code).to.equal('ticket_closed');
      await writeAs(h, bridge, 'FRE-00000000', { from: 'customer', content: 'Hello?' }).expect(404);
    });
  });

  describe('a channel message is stored once per key (external_message_id)', () => {
    it('a repeated opening gets the ticket, message and answer of the first, marked replayed; one ticket stored', async () => {
      const body = opening({ external_message_id: `wamid.${randomUUID()}` });
      const first = await openFor(h, bridge, body).expect(201);
      expect(first.headers).to.not.have.property('idempotent-replayed');
      const again = await openFor(h, bridge, body).expect(201);
      expect(again.headers['idempotent-replayed']).to.equal('true');
      expect(again.body.ticket.ticket_id).to.equal(first.body.ticket.ticket_id);
      expect(again.body.message).to.deep.equal(first.body.message);
      expect(again.body.assistant_message).to.deep.equal(first.body.assistant_message);
      expect(await ticketsOf(h, body.customer.external_id)).to.have.length(1);
      const events = await ticketEvents(h, first.body.ticket.ticket_id);
      expect(events.filter((e) => e.type === 'ticket.created')).to.have.length(1);
    });

    it('a repeated customer message is stored once and answered as the first time', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const body = { from: 'customer', content: 'Je réessaie', external_message_id: `wamid.${randomUUID()}` };
      const first = await writeAs(h, bridge, id, body).expect(201);
      const again = await writeAs(h, bridge, id, body).expect(201);
      expect(again.headers['idempotent-replayed']).to.equal('true');
      expect(again.body.message).to.deep.equal(first.body.message);
      expect(again.body.assistant_message).to.deep.equal(first.body.assistant_message);
      const stored = (await conversation(h, id)).filter((m) => m.content === 'Je réessaie');
      expect(stored).to.have.length(1);
      const events = await ticketEvents(h, id);
      expect(events.filter((e) => e.data.type === 'customer')).to.have.length(1);
    });

    it('concurrent repeats of an opening store one ticket, and every request is answered with it', async () => {
      const body = opening({ external_message_id: `wamid.${randomUUID()}` });
      const answers = await Promise.all(Array.from({ length: 6 }, () => openFor(h, bridge, body)));
      for (const res of answers) expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const ids = new Set(answers.map((r) => r.body.ticket.ticket_id));
      expect(ids.size).to.equal(1);
      expect(answers.filter((r) => r.headers['idempotent-replayed'] === undefined)).to.have.length(1);
      expect(await ticketsOf(h, body.customer.external_id)).to.have.length(1);
    });

    it('concurrent repeats of a customer message store it once, and every request is answered with it', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const body = { from: 'customer', content: 'En même temps', external_message_id: `wamid.${randomUUID()}` };
      const answers = await Promise.all(Array.from({ length: 6 }, () => writeAs(h, bridge, id, body)));
      for (const res of answers) expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(new Set(answers.map((r) => r.body.message.message_id)).size).to.equal(1);
      expect((await conversation(h, id)).filter((m) => m.content === 'En même temps')).to.have.length(1);
    });

    it('a message stored before the ticket closed is still answered as the first time, not refused', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const body = { from: 'customer', content: 'Merci, ça marche', external_message_id: `wamid.${randomUUID()}` };
      const first = await writeAs(h, bridge, id, body).expect(201);
      await h
        .http()
        .patch(`/v1/tickets/${id}`)
        .set('authorization', `Bearer ${ADMIN_KEY}`)
        .set('if-match', '*')
        .send({ status: 'closed' })
        .expect(200);
      const again = await writeAs(h, bridge, id, body).expect(201);
      expect(again.body.message.message_id).to.equal(first.body.message.message_id);
      expect(again.body.ticket.status).to.equal('closed');
    });

    it('an id already used elsewhere is a 409 naming where it is stored', async () => {
      const wamid = `wamid.${randomUUID()}`;
      const opened = await openFor(h, bridge, opening({ external_message_id: wamid })).expect(201);
      const other = await openFor(h, bridge, opening()).expect(201);
      const elsewhere = await writeAs(h, bridge, other.body.ticket.ticket_id, {
        from: 'customer',
        content: 'x',
        external_message_id: wamid,
      }).expect(409);
      expect(elsewhere.body.error.message).to.include(opened.body.ticket.ticket_id);

      const messageId = `wamid.${randomUUID()}`;
      await writeAs(h, bridge, other.body.ticket.ticket_id, {
        from: 'customer',
        content: 'y',
        external_message_id: messageId,
      }).expect(201);
      const reopening = await openFor(h, bridge, opening({ external_message_id: messageId })).expect(409);
      expect(reopening.body.error.message).to.include(other.body.ticket.ticket_id);
    });

    it('ids belong to their key: another bridge may send the same id', async () => {
      const sms = await newKey(h, 'integration', 'SMS bridge');
      const wamid = `id-${randomUUID()}`;
      const a = await openFor(h, bridge, opening({ external_message_id: wamid })).expect(201);
      const b = await openFor(h, sms, opening({ channel: 'sms', external_message_id: wamid })).expect(201);
      expect(b.headers).to.not.have.property('idempotent-replayed');
      expect(b.body.ticket.ticket_id).to.not.equal(a.body.ticket.ticket_id);
    });
  });

  describe('Idempotency-Key', () => {
    const KEY = 'Idempotency-Key';
    const expectReplayOf = (replay: Response, first: Response) => {
      expect(replay.status).to.equal(first.status);
      expect(replay.headers['idempotent-replayed']).to.equal('true');
      expect(replay.text).to.equal(first.text);
    };

    it('replays an opening byte for byte, and refuses the key for another body (422)', async () => {
      const key = randomUUID();
      const body = opening();
      const first = await openFor(h, bridge, body).set(KEY, key).expect(201);
      expectReplayOf(await openFor(h, bridge, body).set(KEY, key), first);
      expect(await ticketsOf(h, body.customer.external_id)).to.have.length(1);
      const reused = await openFor(h, bridge, opening()).set(KEY, key).expect(422);
      expect(reused.body.error.code).to.equal('idempotency_key_reused');
    });

    it("replays a customer message byte for byte, the assistant's answer included", async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const key = randomUUID();
      const body = { from: 'customer', content: `Avec une clé ${key}` };
      const first = await writeAs(h, bridge, id, body).set(KEY, key).expect(201);
      expectReplayOf(await writeAs(h, bridge, id, body).set(KEY, key), first);
      expect((await conversation(h, id)).filter((m) => m.content === body.content)).to.have.length(1);
    });
  });

  describe('what an integration key may do', () => {
    it("every message reaches the bridge with its text in its event, the first with the ticket's creation; notes are marked internal", async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const agent = await h.user('agent');
      await writeAs(h, agent.token, id, { content: 'Please restart your box' }).expect(201);
      await writeAs(h, agent.token, id, { content: 'Customer is on the premium plan', internal: true }).expect(201);
      await writeAs(h, bridge, id, { from: 'customer', content: 'Done, still nothing' }).expect(201);
      const history = await h
        .http()
        .get(`/v1/tickets/${id}/history`)
        .set('authorization', `Bearer ${bridge}`)
        .expect(200);
      const messages = history.body.events.filter((e: Json) => e.type === 'message.created');
      const byType = (type: string) => messages.find((e: Json) => (e.data as Json).type === type)?.data as Json;
      expect(byType('agent')).to.include({ content: 'Please restart your box', internal: false });
      expect(byType('internal')).to.include({ content: 'Customer is on the premium plan', internal: true });
      expect(byType('customer')).to.include({ content: 'Done, still nothing', internal: false });
      // The first message travels with the ticket's creation.
      const created = history.body.events.find((e: Json) => e.type === 'ticket.created');
      expect(created.data).to.include({ content: opening().message, channel: 'whatsapp' });
    });

    it('reads what an agent reads: the queue, a ticket, its conversation, its history, the change feed', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const get = (path: string) => h.http().get(path).set('authorization', `Bearer ${bridge}`);
      await get('/v1/tickets').expect(200);
      await get(`/v1/tickets/${id}`).expect(200);
      await get(`/v1/tickets/${id}/messages`).expect(200);
      await get(`/v1/tickets/${id}/history`).expect(200);
      await get('/v1/events').expect(200);
      const me = await get('/v1/auth/me').expect(200);
      expect(me.body).to.include({ kind: 'api_key', role: 'integration' });
    });

    it('never acts as an agent: no reply, no note, no change of the ticket, no suggestion', async () => {
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      const auth = `Bearer ${bridge}`;
      const reply = await writeAs(h, bridge, id, { content: 'Je suis un agent' }).expect(403);
      expect(reply.body.error.code).to.equal('forbidden');
      await writeAs(h, bridge, id, { from: 'agent', content: 'Je suis un agent' }).expect(403);
      await writeAs(h, bridge, id, { content: 'note', internal: true }).expect(403);
      await h
        .http()
        .patch(`/v1/tickets/${id}`)
        .set('authorization', auth)
        .set('if-match', '*')
        .send({ status: 'closed' })
        .expect(403);
      await h.http().post(`/v1/tickets/${id}/suggest-reply`).set('authorization', auth).expect(403);
      expect((await conversation(h, id)).filter((m) => m.type === 'agent' || m.type === 'internal')).to.deep.equal([]);
    });

    it('never manages users, keys or reports', async () => {
      const auth = `Bearer ${bridge}`;
      await h.http().get('/v1/users').set('authorization', auth).expect(403);
      await h
        .http()
        .post('/v1/users')
        .set('authorization', auth)
        .send({ email: 'x@freeda.test', name: 'X', role: 'agent', password: 'a long enough passphrase' })
        .expect(403);
      await h.http().get('/v1/api-keys').set('authorization', auth).expect(403);
      await h.http().post('/v1/api-keys').set('authorization', auth).send({ name: 'k', role: 'admin' }).expect(403);
      await h.http().get('/v1/tickets/export.csv').set('authorization', auth).expect(403);
      await h.http().get('/v1/analytics/summary').set('authorization', auth).expect(403);
    });

    it('is a role for API keys only: a user cannot be created with it or given it (400)', async () => {
      const admin = `Bearer ${ADMIN_KEY}`;
      const email = `bridge-${randomUUID()}@freeda.test`;
      const password = 'a long enough passphrase';
      const created = await h
        .http()
        .post('/v1/users')
        .set('authorization', admin)
        .send({ email, name: 'Bridge person', role: 'integration', password })
        .expect(400);
      expect(created.body.error.details.map((d: Json) => d.path)).to.include('body.role');
      await h
        .http()
        .post('/v1/users')
        .set('authorization', admin)
        .send({ email, name: 'P', role: 'agent', password })
        .expect(201);
      const patched = await h
        .http()
        .patch(`/v1/users/${email}`)
        .set('authorization', admin)
        .send({ role: 'integration' })
        .expect(400);
      expect(patched.body.error.details.map((d: Json) => d.path)).to.include('body.role');
    });

    it('agents cannot write as the customer nor open tickets for one; managers can', async () => {
      const agent = await h.user('agent');
      const manager = await h.user('manager');
      const opened = await openFor(h, bridge, opening()).expect(201);
      const id = opened.body.ticket.ticket_id as string;
      await openFor(h, agent.token, opening()).expect(403);
      await writeAs(h, agent.token, id, { from: 'customer', content: 'forged' }).expect(403);
      await openFor(h, manager.token, opening({ channel: 'phone' })).expect(201);
      await writeAs(h, manager.token, id, { from: 'customer', content: 'dicté au téléphone' }).expect(201);
      // An agent still replies on the same route.
      await writeAs(h, agent.token, id, { content: 'Je regarde' }).expect(201);
    });
  });
});

describe('channel bridges: limits per API key', () => {
  it('opens 50 tickets in a minute with one key, where the public route refuses the sixth from one address', async () => {
    const h = await startHarness({ TRUST_PROXY_HOPS: '1', RATE_LIMIT_TICKETS_PER_HOUR: '5' });
    try {
      const key = await newKey(h);
      const ids = new Set<string>();
      for (let batch = 0; batch < 5; batch++) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => openFor(h, key, opening()).set('x-forwarded-for', '203.0.113.40')),
        );
        for (const res of answers) {
          expect(res.status, JSON.stringify(res.body)).to.equal(201);
          ids.add(res.body.ticket.ticket_id);
        }
      }
      expect(ids.size).to.equal(50);
      const open = () =>
        h.http().post('/v1/public/tickets').set('x-forwarded-for', '203.0.113.40').send({ message: 'help' });
      for (let i = 0; i < 5; i++) await open().expect(201);
      await open().expect(429);
    } finally {
      await h.close();
    }
  });

  it('refuses a key over its quota with 429, Retry-After and RateLimit headers; another key is unaffected', async () => {
    const h = await startHarness({
      RATE_LIMIT_INTEGRATION_TICKETS_PER_HOUR: '3',
      RATE_LIMIT_INTEGRATION_MESSAGES_PER_MINUTE: '2',
    });
    try {
      const busy = await newKey(h);
      const quiet = await newKey(h, 'integration', 'SMS bridge');
      const ok = await openFor(h, busy, opening()).expect(201);
      expect(ok.headers.ratelimit).to.match(/r=2; ?t=\d+/);
      // A refused body gives its count back: only tickets opened count.
      await openFor(h, busy, opening({ channel: 'fax' })).expect(400);
      await openFor(h, busy, opening()).expect(201);
      await openFor(h, busy, opening()).expect(201);
      const refused = await openFor(h, busy, opening()).expect(429);
      expect(refused.body.error.code).to.equal('rate_limited');
      expect(Number(refused.headers['retry-after'])).to.be.within(1, 3600);
      expect(refused.headers).to.include.keys('ratelimit', 'ratelimit-policy');
      await openFor(h, quiet, opening()).expect(201);

      const id = ok.body.ticket.ticket_id as string;
      await writeAs(h, busy, id, { from: 'customer', content: 'un' }).expect(201);
      await writeAs(h, busy, id, { from: 'customer', content: 'deux' }).expect(201);
      const tooFast = await writeAs(h, busy, id, { from: 'customer', content: 'trois' }).expect(429);
      expect(tooFast.headers).to.have.property('retry-after');
      await writeAs(h, quiet, id, { from: 'customer', content: 'trois, par SMS' }).expect(201);
      // Agents' replies on the same route are not counted as a bridge's customer messages.
      const agent = await h.user('agent');
      for (let i = 0; i < 3; i++) await writeAs(h, agent.token, id, { content: `réponse ${i}` }).expect(201);
    } finally {
      await h.close();
    }
  });
});

describe('channel bridges: a transaction that loses to a concurrent one', () => {
  // DynamoDB Local runs transactions one at a time and never reports a TransactionConflict, which DynamoDB does
  // when two transactions touch the same item at once: the SDK-level failure stands in for it.
  let h: Harness;
  let bridge: string;
  let conflicts = 0;
  let markerWrites = 0;

  before(async () => {
    h = await startHarness();
    bridge = await newKey(h);
    h.runtime.dynamo.client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { TransactItems?: unknown[] };
        if (input.TransactItems && JSON.stringify(input).includes('#external-message#')) {
          markerWrites++;
          if (conflicts > 0) {
            conflicts--;
            throw Object.assign(new Error('Transaction cancelled'), {
              name: 'TransactionCanceledException',
              CancellationReasons: input.TransactItems.map(() => ({ Code: 'TransactionConflict' })),
              $metadata: { httpStatusCode: 400 },
            });
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'transaction-conflict' },
    );
  });
  after(() => h.close());

  it('is tried again, and the message is stored once', async () => {
    const opened = await openFor(h, bridge, opening()).expect(201);
    const id = opened.body.ticket.ticket_id as string;
    conflicts = 2;
    markerWrites = 0;
    const body = { from: 'customer', content: 'Après un conflit', external_message_id: `wamid.${randomUUID()}` };
    const res = await writeAs(h, bridge, id, body).expect(201);
    expect(res.headers).to.not.have.property('idempotent-replayed');
    expect(markerWrites).to.equal(3);
    expect((await conversation(h, id)).filter((m) => m.content === 'Après un conflit')).to.have.length(1);
  });

  it('lost to the same message stored first: answered with that message, nothing stored again', async () => {
    const body = opening({ external_message_id: `wamid.${randomUUID()}` });
    const first = await openFor(h, bridge, body).expect(201);
    conflicts = 1;
    markerWrites = 0;
    const again = await openFor(h, bridge, body).expect(201);
    expect(markerWrites).to.equal(1);
    expect(again.headers['idempotent-replayed']).to.equal('true');
    expect(again.body.ticket.ticket_id).to.equal(first.body.ticket.ticket_id);
    expect(await ticketsOf(h, body.customer.external_id)).to.have.length(1);
  });
});
