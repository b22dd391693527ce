/**
 * Canned responses: managers create, change and delete them, agents read and search them by shortcut prefix
 * (one Query, never a Scan), shortcuts are unique, and an agent sends one by id with its placeholders filled,
 * as a reply or as an internal note.
 */
import { expect } from 'chai';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';

interface Canned {
  id: string;
  shortcut: string;
  title: string;
  content: string;
}

describe('canned responses', function () {
  this.timeout(60_000);
  let h: Harness;
  let agent: { email: string; token: string };
  let manager: { email: string; token: string };
  before(async () => {
    h = await startHarness();
    agent = await h.user('agent');
    manager = await h.user('manager');
  });
  after(() => h.close());

  const as = (who: { token: string }) => `Bearer ${who.token}`;
  const create = (body: object, who = manager) =>
    h.http().post('/v1/canned-responses').set('authorization', as(who)).send(body);
  const send = (ticketId: string, body: object, who = agent) =>
    h.http().post(`/v1/tickets/${ticketId}/messages`).set('authorization', as(who)).send(body);

  it('lets managers create, change and delete them and agents read them, never write them', async () => {
    const made = await create({ shortcut: 'Thanks', title: 'Thank you', content: 'Thank you for waiting.' }).expect(
      201,
    );
    const id = made.body.id as string;
    expect(made.body).to.include({ shortcut: 'thanks', title: 'Thank you', content: 'Thank you for waiting.' });
    expect(made.body.created_by).to.equal(manager.email);
    expect(id).to.match(/^cr_[0-9a-f]{16}$/);

    const read = await h.http().get(`/v1/canned-responses/${id}`).set('authorization', as(agent)).expect(200);
    expect(read.body).to.deep.equal(made.body);

    for (const refused of [
      create({ shortcut: 'nope', title: 'No', content: 'No.' }, agent),
      h.http().patch(`/v1/canned-responses/${id}`).set('authorization', as(agent)).send({ title: 'Mine' }),
      h.http().delete(`/v1/canned-responses/${id}`).set('authorization', as(agent)),
    ]) {
      expect((await refused).status).to.equal(403);
    }
    await h.http().get('/v1/canned-responses').expect(401);

    const changed = await h
      .http()
      .patch(`/v1/canned-responses/${id}`)
      .set('authorization', as(manager))
      .send({ shortcut: 'thanks-wait', content: 'Thank you for your patience.' })
      .expect(200);
    expect(changed.body).to.include({ id, shortcut: 'thanks-wait', title: 'Thank you' });
    expect(changed.body.updated_at).to.be.a('string');
    // The old shortcut is free again, and searching finds the new one only.
    const search = async (prefix: string) =>
      (
        await h.http().get('/v1/canned-responses').query({ prefix }).set('authorization', as(agent)).expect(200)
      ).body.items.map((c: Canned) => c.shortcut);
    expect(await search('thanks')).to.deep.equal(['thanks-wait']);

    await h.http().delete(`/v1/canned-responses/${id}`).set('authorization', as(manager)).expect(204);
    await h.http().get(`/v1/canned-responses/${id}`).set('authorization', as(agent)).expect(404);
    await h.http().delete(`/v1/canned-responses/${id}`).set('authorization', as(manager)).expect(404);
    await h
      .http()
      .patch(`/v1/canned-responses/${id}`)
      .set('authorization', as(manager))
      .send({ title: 'X' })
      .expect(404);
    await h.http().get('/v1/canned-responses/not-an-id').set('authorization', as(agent)).expect(404);
    expect(await search('thanks')).to.deep.equal([]);
  });

  it('keeps shortcuts unique, case-insensitively, on creation and on change (409)', async () => {
    await create({ shortcut: 'dup-one', title: 'One', content: 'One.' }).expect(201);
    const again = await create({ shortcut: 'DUP-ONE', title: 'Other', content: 'Other.' }).expect(409);
    expect(again.body.error.code).to.equal('conflict');
    const other = await create({ shortcut: 'dup-two', title: 'Two', content: 'Two.' }).expect(201);
    await h
      .http()
      .patch(`/v1/canned-responses/${other.body.id}`)
      .set('authorization', as(manager))
      .send({ shortcut: 'dup-one' })
      .expect(409);
    const kept = await h
      .http()
      .get(`/v1/canned-responses/${other.body.id}`)
      .set('authorization', as(agent))
      .expect(200);
    expect(kept.body.shortcut).to.equal('dup-two');
    for (const bad of [
      { shortcut: 'has space', title: 'T', content: 'C' },
      { shortcut: 'ok', title: '   ', content: 'C' },
      { shortcut: 'ok', title: 'T' },
      { shortcut: 'ok', title: 'T', content: 'C', extra: 1 },
    ]) {
      await create(bad).expect(400);
    }
    await h
      .http()
      .patch(`/v1/canned-responses/${other.body.id}`)
      .set('authorization', as(manager))
      .send({})
      .expect(400);
  });

  it('searches by shortcut prefix with one Query and pages through the results in shortcut order', async () => {
    for (const shortcut of ['ref-b', 'ref-a', 'ref-d', 'ref-c', 'reg-x']) {
      await create({ shortcut, title: shortcut, content: `About ${shortcut}` }).expect(201);
    }
    const spy = spyOnCommands(h.runtime.dynamo.client);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const query: Record<string, string> = { prefix: 'REF-', limit: '2', ...(cursor ? { cursor } : {}) };
      const res: { body: { items: Canned[]; next_cursor: string | null } } = await h
        .http()
        .get('/v1/canned-responses')
        .query(query)
        .set('authorization', as(agent))
        .expect(200);
      seen.push(...res.body.items.map((c: Canned) => c.shortcut));
      cursor = res.body.next_cursor ?? undefined;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).to.deep.equal(['ref-a', 'ref-b', 'ref-c', 'ref-d']);
    const reads = spy.sent.filter((c) => c.name !== 'GetItemCommand');
    expect(reads.map((c) => c.name)).to.satisfy((names: string[]) => names.every((n) => n === 'QueryCommand'));
    expect(reads.length).to.equal(pages);
    for (const q of reads) {
      expect(q.input.KeyConditionExpression).to.include('begins_with');
      expect(q.input).not.to.have.property('FilterExpression');
      expect(q.input).not.to.have.property('IndexName');
    }
    // A cursor belongs to its search.
    const first = await h
      .http()
      .get('/v1/canned-responses')
      .query({ prefix: 'ref-', limit: '1' })
      .set('authorization', as(agent))
      .expect(200);
    await h
      .http()
      .get('/v1/canned-responses')
      .query({ prefix: 'reg', cursor: first.body.next_cursor })
      .set('authorization', as(agent))
      .expect(400);
    await h.http().get('/v1/canned-responses').query({ prefix: 'a b' }).set('authorization', as(agent)).expect(400);
    // Canned responses are no tickets: the ticket list does not show them.
    const list = await h.http().get('/v1/tickets').query({ limit: '100' }).set('authorization', as(agent)).expect(200);
    expect(JSON.stringify(list.body)).not.to.include('About ref-a');
  });

  it('fills {{customer.name}} and {{agent.name}} when an agent sends one, and leaves unknown placeholders', async () => {
    const greet = await create({
      shortcut: 'hello',
      title: 'Greeting',
      content: 'Hello {{customer.name}}, I am {{ agent.name }}. Your {{order.id}} is on its way. $& {{customer.name}}',
    }).expect(201);
    const named = await h.ticket({ message: 'Where is my parcel?', customer_name: 'Alice $1' });
    const sent = await send(named.id, { canned_response_id: greet.body.id }).expect(201);
    const agentName = (await h.http().get('/v1/auth/me').set('authorization', as(agent)).expect(200)).body.name;
    expect(sent.body.message.content).to.equal(
      `Hello Alice $1, I am ${agentName}. Your {{order.id}} is on its way. $& Alice $1`,
    );
    expect(sent.body.message.type).to.equal('agent');
    // A reply through a canned response is a reply: the ticket moves to in_progress.
    expect(sent.body.ticket.status).to.equal('in_progress');

    const anonymous = await h.ticket({ message: 'Hi, my fibre is down' });
    const toAnonymous = await send(anonymous.id, { canned_response_id: greet.body.id }).expect(201);
    expect(toAnonymous.body.message.content).to.match(/^Hello there, I am /);

    // Stored as sent: the conversation holds the filled text.
    const conversation = await h
      .http()
      .get(`/v1/tickets/${named.id}/messages`)
      .set('authorization', as(agent))
      .expect(200);
    expect(conversation.body.items.map((m: { content: string }) => m.content)).to.include(sent.body.message.content);
  });

  it('sends one as an internal note, and refuses an unknown id, both fields, or neither', async () => {
    const note = await create({ shortcut: 'escalate', title: 'Escalate', content: 'Escalated by {{agent.name}}.' });
    const t = await h.ticket();
    const sent = await send(t.id, { canned_response_id: note.body.id, internal: true }).expect(201);
    expect(sent.body.message.type).to.equal('internal');
    expect(sent.body.ticket.status).to.equal('new');
    const customerView = await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', `Bearer ${t.token}`);
    expect(JSON.stringify(customerView.body)).not.to.include('Escalated by');

    const unknown = await send(t.id, { canned_response_id: 'cr_0000000000000000' }).expect(400);
    expect(unknown.body.error.details).to.deep.equal([
      { path: 'body.canned_response_id', message: 'unknown canned response' },
    ]);
    await send(t.id, { canned_response_id: 'garbage' }).expect(400);
    await send(t.id, { canned_response_id: note.body.id, content: 'both' }).expect(400);
    await send(t.id, { internal: true }).expect(400);
    // The ticket is checked first: an unknown ticket is a 404 whatever the body.
    await send('FRE-00000000', { canned_response_id: note.body.id }).expect(404);
    // Plain replies work as before.
    await send(t.id, { content: 'A plain reply' }).expect(201);
    // The bootstrap admin key may send one too (its name stands for the agent).
    const byKey = await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ canned_response_id: note.body.id, internal: true })
      .expect(201);
    expect(byKey.body.message.content).to.equal('Escalated by Bootstrap admin key.');
  });
});
