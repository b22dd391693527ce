/**
 * Live event streams through real HTTP with a real Server-Sent Events client: events arrive; a customer's
 * stream carries only the public events of their ticket; an event written by one service instance reaches
 * a stream held by another on the same tables; a client that reconnects after a restart receives every
 * event it missed, each once.
 */
import { expect } from 'chai';
import { EventLog } from '../../../api/events/log.js';
import type { TicketEvent } from '../../../api/events/model.js';
import { type Harness, startHarness } from '../../support/harness.js';
import { listen, type Served, serve } from '../../support/sse.js';

const as = (token: string) => `Bearer ${token}`;
const FAST = { EVENTS_LOOKBACK_MS: '2000', EVENTS_POLL_MS: '50' };

async function historyOf(h: Harness, ticketId: string): Promise<TicketEvent[]> {
  const log = new EventLog(h.runtime.dynamo.doc, h.tables.events, 30);
  return (await log.ofTicket(ticketId, 100)).events;
}

async function etagOf(h: Harness, token: string, ticketId: string): Promise<string> {
  const res = await h.http().get(`/v1/tickets/${ticketId}`).set('authorization', as(token)).expect(200);
  return String(res.headers.etag);
}

describe('live event streams', () => {
  let h: Harness;
  let served: Served;
  let agent: { email: string; token: string };

  before(async () => {
    h = await startHarness(FAST);
    served = await serve(h);
    agent = await h.user('agent');
  });
  after(async () => {
    await served.close();
    await h.close();
  });

  it('sends each new event to an agent stream, with the event id as the SSE id', async () => {
    const stream = listen(served.base, '/v1/events/stream', agent.token);
    try {
      await stream.opened();
      const t = await h.ticket();
      const created = await stream.until((e) => e.ticket_id === t.id && e.type === 'ticket.created');
      await stream.until((e) => e.ticket_id === t.id && e.type === 'message.created');
      const history = await historyOf(h, t.id);
      expect(history.map((e) => e.id)).to.include(created.id);
      expect(created).to.deep.equal(history.find((e) => e.id === created.id));
      expect(stream.sseIds).to.deep.equal(stream.events.map((e) => e.id));
    } finally {
      stream.close();
    }
  });

  it('filters an agent stream by ticket and by type', async () => {
    const one = await h.ticket();
    const stream = listen(served.base, `/v1/events/stream?ticket_id=${one.id}&types=message.created`, agent.token);
    try {
      await stream.opened();
      const other = await h.ticket();
      await h
        .http()
        .post(`/v1/public/tickets/${one.id}/messages`)
        .set('authorization', as(one.token))
        .send({ content: 'Hello again' })
        .expect(201);
      await stream.until((e) => e.ticket_id === one.id && e.type === 'message.created');
      expect(stream.events.every((e) => e.ticket_id === one.id && e.type === 'message.created')).to.equal(true);
      expect(stream.events.some((e) => e.ticket_id === other.id)).to.equal(false);
    } finally {
      stream.close();
    }
  });

  it("never carries internal notes, analytics or agents' e-mails on a customer's stream", async () => {
    const t = await h.ticket();
    const stream = listen(served.base, `/v1/public/tickets/${t.id}/events`, t.token);
    try {
      await stream.opened();
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent.token))
        .send({ content: 'Customer seems upset, check the line', internal: true })
        .expect(201);
      await h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', as(agent.token))
        .set('if-match', await etagOf(h, agent.token, t.id))
        .send({ assigned_to: agent.email })
        .expect(200);
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent.token))
        .send({ content: 'We are on it' })
        .expect(201);
      const reply = await stream.until((e) => e.type === 'message.created' && e.data.type === 'agent');
      expect(reply.actor).to.equal('agent');
      const text = JSON.stringify(stream.events);
      expect(text).to.not.include(agent.email);
      expect(text).to.not.include('check the line');
      expect(stream.events.some((e) => e.data.internal === true)).to.equal(false);
      expect(stream.events.some((e) => e.type === 'ticket.analyzed' || e.type === 'churn.alert')).to.equal(false);
      expect(stream.events.every((e) => e.ticket_id === t.id)).to.equal(true);
      // The agents' stream of the same ticket did carry them: the filter is the audience, not a lost event.
      const internal = (await historyOf(h, t.id)).filter((e) => e.data.internal === true);
      expect(internal).to.have.length(1);
    } finally {
      stream.close();
    }
  });

  it("refuses a customer stream without the ticket's token, and an agent stream without a credential", async () => {
    const t = await h.ticket();
    const other = await h.ticket();
    await h.http().get(`/v1/public/tickets/${t.id}/events`).set('authorization', as(other.token)).expect(404);
    await h.http().get(`/v1/public/tickets/${t.id}/events`).expect(401);
    await h.http().get('/v1/events/stream').expect(401);
    await h.http().get('/v1/events/stream').set('authorization', as(t.token)).expect(401);
    await h.http().get('/v1/events/stream?types=nope').set('authorization', as(agent.token)).expect(400);
  });

  it('opens both streams with a stream token in the URL, each token for its own stream only, never logged', async () => {
    const t = await h.ticket();
    const other = await h.ticket();
    const minted = await h.http().post('/v1/events/stream-token').set('authorization', as(agent.token)).expect(200);
    expect(minted.body.expires_in).to.be.a('number').above(0);
    expect(minted.headers['cache-control']).to.include('no-store');
    const agentToken = minted.body.token as string;
    const customer = await h
      .http()
      .post(`/v1/public/tickets/${t.id}/stream-token`)
      .set('authorization', as(t.token))
      .expect(200);
    const customerToken = customer.body.token as string;
    await h.http().post(`/v1/public/tickets/${t.id}/stream-token`).set('authorization', as(other.token)).expect(404);

    const agentStream = listen(served.base, `/v1/events/stream?ticket_id=${t.id}&stream_token=${agentToken}`);
    const customerStream = listen(served.base, `/v1/public/tickets/${t.id}/events?stream_token=${customerToken}`);
    try {
      await Promise.all([agentStream.opened(), customerStream.opened()]);
      await h
        .http()
        .post(`/v1/public/tickets/${t.id}/messages`)
        .set('authorization', as(t.token))
        .send({ content: 'Through the token' })
        .expect(201);
      await agentStream.until(
        (e) => e.type === 'message.created' && e.data.type === 'customer' && e.ticket_id === t.id,
      );
      await customerStream.until((e) => e.type === 'message.created' && e.data.type === 'customer');
    } finally {
      agentStream.close();
      customerStream.close();
    }

    // Each token opens its own stream and nothing else.
    const q = (token: string) => ({ stream_token: token });
    await h.http().get(`/v1/public/tickets/${other.id}/events`).query(q(customerToken)).expect(401);
    await h.http().get('/v1/events/stream').query(q(customerToken)).expect(401);
    await h.http().get('/v1/events/stream').query(q(agent.token)).expect(401);
    await h.http().get('/v1/tickets').set('authorization', as(agentToken)).expect(401);
    await h.http().get('/v1/events').query(q(agentToken)).expect(401);
    await h
      .http()
      .get('/v1/events/stream')
      .query(q(`${agentToken.slice(0, -3)}abc`))
      .expect(401);

    const logs = h.logs.join('\n');
    expect(logs).to.not.include(agentToken);
    expect(logs).to.not.include(customerToken);
    expect(logs).to.include('/v1/events/stream');
  });

  it('brings an event written by one instance to a stream held by another on the same tables', async () => {
    const second = await startHarness(FAST, h.tables);
    const secondServed = await serve(second);
    const stream = listen(secondServed.base, '/v1/events/stream', agent.token);
    try {
      await stream.opened();
      const t = await h.ticket();
      const created = await stream.until((e) => e.ticket_id === t.id && e.type === 'ticket.created');
      expect(created.ticket_id).to.equal(t.id);
    } finally {
      stream.close();
      await secondServed.close();
      await second.close();
    }
  });

  it("resumes a customer's stream with Last-Event-ID: the missed public events, each once, nothing internal", async () => {
    const t = await h.ticket();
    let entry = await serve(h);
    let base = entry.base;
    const stream = listen(() => base, `/v1/public/tickets/${t.id}/events`, t.token);
    const reply = (content: string, internal = false) =>
      h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent.token))
        .send({ content, internal })
        .expect(201);
    try {
      await stream.opened();
      await reply('First answer');
      await stream.until((e) => e.type === 'message.created' && e.data.type === 'agent');
      // The connection drops; meanwhile the agent writes a note and a second answer.
      await entry.close();
      await reply('Not for the customer', true);
      const second = (await reply('Second answer')).body.message.message_id as string;
      entry = await serve(h);
      base = entry.base;
      await stream.until((e) => e.data.message_id === second);
      const ids = stream.events.map((e) => e.id);
      expect(new Set(ids).size).to.equal(ids.length, 'no event twice');
      expect(stream.events.some((e) => e.data.internal === true)).to.equal(false);
    } finally {
      stream.close();
      await entry.close();
    }
  });

  it('resumes with Last-Event-ID after a restart: every missed event, each once', async () => {
    const tables = h.tables;
    let instance = await startHarness(FAST, tables);
    let instanceServed = await serve(instance);
    let base = instanceServed.base;
    const stream = listen(() => base, '/v1/events/stream', agent.token);
    try {
      await stream.opened();
      const first = await h.ticket();
      await stream.until((e) => e.ticket_id === first.id && e.type === 'message.created');

      // The instance stops: its streams end; while it is down, changes go on through another instance.
      await instance.close();
      await instanceServed.close();
      const missed = [await h.ticket(), await h.ticket()];
      instance = await startHarness(FAST, tables);
      instanceServed = await serve(instance);
      base = instanceServed.base;

      for (const t of missed) await stream.until((e) => e.ticket_id === t.id && e.type === 'message.created');
      const expected = (await Promise.all([first, ...missed].map((t) => historyOf(h, t.id)))).flat().map((e) => e.id);
      const got = stream.events.map((e) => e.id).filter((id) => expected.includes(id));
      expect([...got].sort()).to.deep.equal([...expected].sort());
      const ids = stream.events.map((e) => e.id);
      expect(new Set(ids).size).to.equal(ids.length, 'no event twice');
    } finally {
      stream.close();
      await instanceServed.close();
      await instance.close();
    }
  });
});
