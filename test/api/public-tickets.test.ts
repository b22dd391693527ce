import { expect } from 'chai';
import { type Harness, startHarness } from '../support/harness.js';

describe('public tickets (customers)', () => {
  let h: Harness;
  let agent: { token: string; email: string };
  before(async () => {
    h = await startHarness();
    agent = await h.user('agent');
  });
  after(() => h.close());

  it('opens a ticket: 201 with a FRE- id, the access token once, and the public view', async () => {
    const res = await h
      .http()
      .post('/v1/public/tickets')
      .send({ message: 'My fibre box blinks red', customer_name: 'Alice', customer_email: 'Alice@Example.com' })
      .expect(201);
    expect(res.body.ticket.ticket_id).to.match(/^FRE-[0-9A-Z]{8}$/);
    expect(res.body.access_token).to.be.a('string').with.length.above(40);
    expect(res.headers.location).to.equal(`/v1/public/tickets/${res.body.ticket.ticket_id}`);
    expect(res.body.ticket).to.include({ status: 'new', channel: 'chat', customer_name: 'Alice' });
    expect(res.body.ticket.messages).to.have.length(2);
    expect(res.body.ticket.messages[0]).to.include({ type: 'customer', content: 'My fibre box blinks red' });
    expect(res.body.ticket.messages[1]).to.deep.equal(res.body.assistant_message);
    expect(res.body.ticket).to.not.have.any.keys('customer_email', 'analytics', 'assigned_to', 'version');
  });

  it('accepts every channel of the vocabulary and refuses others with a 400 naming the field', async () => {
    await h.http().post('/v1/public/tickets').send({ message: 'hi there', channel: 'whatsapp' }).expect(201);
    const res = await h
      .http()
      .post('/v1/public/tickets')
      .send({ message: 'hi there', channel: 'telephone' })
      .expect(400);
    expect(res.body.error.code).to.equal('invalid_request');
    expect(res.body.error.details[0].path).to.equal('body.channel');
  });

  for (const [name, body] of [
    ['a missing message', { customer_name: 'Bob' }],
    ['a blank message', { message: '   ' }],
    ['an unknown field', { message: 'hello', status: 'closed' }],
    ['a malformed e-mail', { message: 'hello', customer_email: 'not-an-email' }],
    ['a message that is not a string', { message: 42 }],
    ['an array body', [1, 2]],
  ] as const) {
    it(`refuses ${name} with 400 and stores nothing`, async () => {
      const before = (await h.http().get('/v1/tickets?limit=100').set('authorization', `Bearer ${agent.token}`)).body
        .items.length;
      const res = await h.http().post('/v1/public/tickets').send(body).expect(400);
      expect(res.body.error).to.include.keys('code', 'message', 'request_id');
      const after = (await h.http().get('/v1/tickets?limit=100').set('authorization', `Bearer ${agent.token}`)).body
        .items.length;
      expect(after).to.equal(before);
    });
  }

  it('answers malformed JSON with 400, a non-JSON body with 415 and a huge body with 413', async () => {
    const bad = await h
      .http()
      .post('/v1/public/tickets')
      .set('content-type', 'application/json')
      .send('{"message": "oops"')
      .expect(400);
    expect(bad.body.error.code).to.equal('malformed_json');
    await h.http().post('/v1/public/tickets').set('content-type', 'text/plain').send('message=hi').expect(415);
    const big = await h
      .http()
      .post('/v1/public/tickets')
      .send({ message: 'x'.repeat(70_000) })
      .expect(413);
    expect(big.body.error.code).to.equal('payload_too_large');
  });

  it('reads the ticket with its access token', async () => {
    const t = await h.ticket();
    const res = await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', `Bearer ${t.token}`).expect(200);
    expect(res.body.ticket_id).to.equal(t.id);
  });

  it('asks for the token without one (401) and hides whether the ticket exists from a wrong token (404)', async () => {
    const t = await h.ticket();
    const other = await h.ticket();
    await h.http().get(`/v1/public/tickets/${t.id}`).expect(401);
    const wrong = await h
      .http()
      .get(`/v1/public/tickets/${t.id}`)
      .set('authorization', `Bearer ${other.token}`)
      .expect(404);
    const missing = await h
      .http()
      .get('/v1/public/tickets/FRE-ZZZZZZZZ')
      .set('authorization', `Bearer ${t.token}`)
      .expect(404);
    expect(wrong.body.error.message).to.equal(missing.body.error.message);
  });

  it('never shows internal notes, analytics or agent e-mails to the customer', async () => {
    const t = await h.ticket();
    const auth = `Bearer ${agent.token}`;
    await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', auth)
      .send({ content: 'Line test OK', internal: false })
      .expect(201);
    await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', auth)
      .send({ content: 'VIP, offer a discount', internal: true })
      .expect(201);
    const res = await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', `Bearer ${t.token}`).expect(200);
    const text = JSON.stringify(res.body);
    expect(text).to.not.include('VIP, offer a discount');
    expect(text).to.not.include(agent.email);
    expect(res.body.messages.map((m: { type: string }) => m.type)).to.deep.equal(['customer', 'assistant', 'agent']);
    expect(res.body).to.not.have.any.keys('analytics', 'assigned_to', 'priority', 'tags');
  });

  it('adds customer messages in order, and a message on a ticket closed moments ago reopens it', async () => {
    const t = await h.ticket();
    const auth = `Bearer ${t.token}`;
    const m = await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', auth)
      .send({ content: 'Still down' })
      .expect(201);
    expect(m.body.message).to.include({ type: 'customer', content: 'Still down' });
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', auth)
      .send({ content: 'Any news?' })
      .expect(201);
    const closed = await h.http().post(`/v1/public/tickets/${t.id}/close`).set('authorization', auth).expect(200);
    expect(closed.body.status).to.equal('closed');
    expect(closed.body.closed_at).to.be.a('string');
    const customers = closed.body.messages.filter((x: { type: string }) => x.type === 'customer');
    expect(customers.map((x: { content: string }) => x.content).slice(1)).to.deep.equal(['Still down', 'Any news?']);
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', auth)
      .send({ content: 'hello?' })
      .expect(201);
    const reopened = await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', auth).expect(200);
    expect(reopened.body.status).to.equal('in_progress');
    expect(reopened.body).to.not.have.property('closed_at');
    await h.http().post(`/v1/public/tickets/${t.id}/close`).set('authorization', auth).expect(200);
  });

  it("refuses a message or a close with another ticket's token", async () => {
    const t = await h.ticket();
    const other = await h.ticket();
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${other.token}`)
      .send({ content: 'x' })
      .expect(404);
    await h.http().post(`/v1/public/tickets/${t.id}/close`).set('authorization', `Bearer ${other.token}`).expect(404);
  });

  it('draws another id when the first one is taken, and never overwrites the existing ticket', async () => {
    const { TicketService } = await import('../../api/tickets/service.js');
    const { TicketRepository } = await import('../../api/tickets/repository.js');
    const { TicketLists } = await import('../../api/tickets/lists.js');
    const { CursorCodec } = await import('../../api/tickets/cursor.js');
    const ids = ['FRE-COLL1DE0', 'FRE-COLL1DE0', 'FRE-FRESH000'];
    const { EventLog } = await import('../../api/events/log.js');
    const events = new EventLog(h.runtime.dynamo.doc, h.tables.events, 30);
    const service = new TicketService({
      repository: new TicketRepository(h.runtime.dynamo.doc, h.tables.tickets, events),
      lists: new TicketLists(h.runtime.dynamo.doc, h.tables.tickets),
      events,
      cursors: new CursorCodec(Buffer.alloc(32)),
      userExists: async () => true,
      newId: () => ids.shift() as string,
    });
    const first = await service.createPublic({ message: 'first', channel: 'chat' });
    const second = await service.createPublic({ message: 'second', channel: 'chat' });
    expect(first.ticket.ticket_id).to.equal('FRE-COLL1DE0');
    expect(second.ticket.ticket_id).to.equal('FRE-FRESH000');
    const kept = await service.getPublic('FRE-COLL1DE0', first.access_token);
    expect(kept.messages[0]?.content).to.equal('first');
  });
});
