import { expect } from 'chai';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { type Harness, startHarness } from '../support/harness.js';

describe('tickets API (agents and tools)', () => {
  let h: Harness;
  let agent: { token: string; email: string };
  let manager: { token: string; email: string };
  let admin: { token: string; email: string };
  const as = (who: { token: string }) => `Bearer ${who.token}`;

  before(async () => {
    h = await startHarness();
    agent = await h.user('agent');
    manager = await h.user('manager');
    admin = await h.user('admin');
  });
  after(() => h.close());

  async function read(id: string) {
    return h.http().get(`/v1/tickets/${id}`).set('authorization', as(agent)).expect(200);
  }

  describe('reading', () => {
    it('returns the full ticket with every message, its version and an ETag', async () => {
      const t = await h.ticket();
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'note', internal: true })
        .expect(201);
      const res = await read(t.id);
      expect(res.headers.etag).to.equal(`"${res.body.version}"`);
      expect(res.body.messages.map((m: { type: string }) => m.type)).to.deep.equal([
        'customer',
        'assistant',
        'internal',
      ]);
      expect(res.body.messages[2].author_email).to.equal(agent.email);
      expect(res.body).to.not.have.any.keys('access_token_hash', 'initial_message', 'events', 'sk', 'list_all');
    });

    it('answers 404 for an unknown ticket and 400 for something that is not a ticket id', async () => {
      await h.http().get('/v1/tickets/FRE-00000000').set('authorization', as(agent)).expect(404);
      const bad = await h.http().get('/v1/tickets/drop-table').set('authorization', as(agent)).expect(400);
      expect(bad.body.error.details[0].path).to.equal('params.ticket_id');
    });
  });

  describe('updating with If-Match', () => {
    it('requires If-Match (428), refuses a stale version (412) and applies a current one', async () => {
      const t = await h.ticket();
      const url = `/v1/tickets/${t.id}`;
      await h.http().patch(url).set('authorization', as(agent)).send({ priority: 'high' }).expect(428);
      await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"99"')
        .send({ priority: 'high' })
        .expect(412);
      const ok = await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"1"')
        .send({ priority: 'high' })
        .expect(200);
      expect(ok.body).to.include({ priority: 'high', version: 2 });
      expect(ok.headers.etag).to.equal('"2"');
      await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"1"')
        .send({ priority: 'low' })
        .expect(412);
      await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', 'W/"2"')
        .send({ priority: 'low' })
        .expect(200);
    });

    it('refuses fields outside the whitelist and values outside the vocabulary with 400', async () => {
      const t = await h.ticket();
      const patch = (body: object) =>
        h.http().patch(`/v1/tickets/${t.id}`).set('authorization', as(agent)).set('if-match', '"1"').send(body);
      for (const body of [
        { customer_name: 'x' },
        { status: 'fermé' },
        { priority: 'haute' },
        {},
        { tags: ['Not Valid!'] },
        { version: 7 },
      ]) {
        const res = await patch(body).expect(400);
        expect(res.body.error.code).to.equal('invalid_request');
      }
      expect((await read(t.id)).body.version).to.equal(1);
    });

    it('stamps closed_at and resolution_seconds on closing and clears them on reopening', async () => {
      const t = await h.ticket();
      const url = `/v1/tickets/${t.id}`;
      const closed = await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"1"')
        .send({ status: 'closed' })
        .expect(200);
      expect(closed.body.closed_at).to.be.a('string');
      expect(closed.body.resolution_seconds).to.be.a('number').at.least(0);
      const reopened = await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"2"')
        .send({ status: 'in_progress' })
        .expect(200);
      expect(reopened.body).to.not.have.any.keys('closed_at', 'resolution_seconds');
      expect(reopened.body.status).to.equal('in_progress');
    });

    it('lets one of many concurrent updates with the same If-Match win; the others get 412', async () => {
      const t = await h.ticket();
      const results = await Promise.all(
        ['low', 'high', 'urgent', 'low', 'high', 'urgent', 'low', 'high', 'urgent', 'high'].map((priority) =>
          h
            .http()
            .patch(`/v1/tickets/${t.id}`)
            .set('authorization', as(agent))
            .set('if-match', '"1"')
            .send({ priority }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 200)).to.have.length(1);
      expect(statuses.filter((s) => s === 412)).to.have.length(9);
      expect((await read(t.id)).body.version).to.equal(2);
    });

    it('applies If-Match: * to whatever version is current, and still answers 404 for a missing ticket', async () => {
      const t = await h.ticket();
      const star = (body: object, id = t.id) =>
        h.http().patch(`/v1/tickets/${id}`).set('authorization', as(agent)).set('if-match', '*').send(body);
      expect((await star({ priority: 'high' }).expect(200)).headers.etag).to.equal('"2"');
      const second = await star({ priority: 'urgent' }).expect(200);
      expect(second.body).to.include({ priority: 'urgent', version: 3 });
      // Concurrent unconditional changes all land, one after the other: none is refused as stale.
      const all = await Promise.all(['low', 'high', 'normal'].map((priority) => star({ priority })));
      expect(all.map((r) => r.status)).to.deep.equal([200, 200, 200]);
      expect((await read(t.id)).body.version).to.equal(6);
      await star({ priority: 'low' }, 'FRE-00000000').expect(404);
    });

    it('lets an agent take or release a ticket, but only a manager hand it to someone else', async () => {
      const t = await h.ticket();
      const url = `/v1/tickets/${t.id}`;
      await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"1"')
        .send({ assigned_to: manager.email })
        .expect(403);
      await h
        .http()
        .patch(url)
        .set('authorization', as(agent))
        .set('if-match', '"1"')
        .send({ assigned_to: agent.email })
        .expect(200);
      await h
        .http()
        .patch(url)
        .set('authorization', as(manager))
        .set('if-match', '"2"')
        .send({ assigned_to: admin.email })
        .expect(200);
      const unknown = await h
        .http()
        .patch(url)
        .set('authorization', as(manager))
        .set('if-match', '"3"')
        .send({ assigned_to: 'ghost@freeda.test' })
        .expect(400);
      expect(unknown.body.error.details[0].path).to.equal('body.assigned_to');
      const released = await h
        .http()
        .patch(url)
        .set('authorization', as(manager))
        .set('if-match', '"3"')
        .send({ assigned_to: null })
        .expect(200);
      expect(released.body).to.not.have.property('assigned_to');
    });

    it('answers 404 when the ticket does not exist', async () => {
      await h
        .http()
        .patch('/v1/tickets/FRE-00000000')
        .set('authorization', as(agent))
        .set('if-match', '"1"')
        .send({ priority: 'low' })
        .expect(404);
    });
  });

  describe('messages and history', () => {
    it('moves a new ticket to in_progress, assigned to its author, on the first reply; a note changes nothing', async () => {
      const t = await h.ticket();
      const note = await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'checking', internal: true })
        .expect(201);
      expect(note.body.ticket.status).to.equal('new');
      expect(note.body.message.type).to.equal('internal');
      const reply = await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'We are on it' })
        .expect(201);
      expect(reply.body.ticket).to.include({ status: 'in_progress', assigned_to: agent.email });
      expect(reply.body.message).to.include({ type: 'agent', author_email: agent.email });
    });

    it('stores 30 parallel messages, all of them, in time order', async () => {
      const t = await h.ticket();
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          h
            .http()
            .post(`/v1/tickets/${t.id}/messages`)
            .set('authorization', as(agent))
            .send({ content: `m${i}`, internal: true })
            .expect(201),
        ),
      );
      const messages = (await read(t.id)).body.messages as Array<{ created_at: string; content: string }>;
      // The customer's message, the assistant's answer, the 30 notes.
      expect(messages).to.have.length(32);
      expect(new Set(messages.map((m) => m.content)).size).to.equal(32);
      const times = messages.map((m) => m.created_at);
      expect(times).to.deep.equal([...times].sort());
    });

    it('tells the ticket history from the event log in order: creation, messages, assignment and status changes', async () => {
      const t = await h.ticket();
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'Hello' })
        .expect(201);
      await h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', as(agent))
        .set('if-match', '"2"')
        .send({ status: 'closed' })
        .expect(200);
      const res = await h.http().get(`/v1/tickets/${t.id}/history`).set('authorization', as(agent)).expect(200);
      type Event = {
        id: string;
        type: string;
        actor: string;
        created_at: string;
        data: { type?: string; changes?: Record<string, { before: unknown; after: unknown }> };
      };
      const events = res.body.events as Event[];
      expect(events.map((e) => e.type)).to.deep.equal([
        'ticket.created',
        'message.created', // the assistant's answer
        'message.created', // the agent's reply, which moved the ticket
        'ticket.updated',
      ]);
      expect(events[0]).to.include({ actor: 'customer', ticket_id: t.id });
      expect(events[1]?.data).to.include({ type: 'assistant' });
      expect(events[2]?.data.changes).to.deep.equal({
        status: { before: 'new', after: 'in_progress' },
        assigned_to: { before: null, after: agent.email },
      });
      expect(events[3]).to.include({ actor: agent.email });
      expect(events[3]?.data.changes?.status).to.deep.equal({ before: 'in_progress', after: 'closed' });
      expect(res.body.next_cursor).to.equal(null);
      const ids = events.map((e) => e.id);
      expect(ids).to.deep.equal([...ids].sort());
    });
  });

  describe('deleting', () => {
    it('lets an admin delete a ticket with its conversation; agents and managers may not', async () => {
      const t = await h.ticket();
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'x' })
        .expect(201);
      await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(agent)).expect(403);
      await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(manager)).expect(403);
      await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(admin)).expect(204);
      await h.http().get(`/v1/tickets/${t.id}`).set('authorization', as(agent)).expect(404);
      await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(admin)).expect(404);
      await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', `Bearer ${t.token}`).expect(404);
    });
  });
});

describe('ticket list', () => {
  let h: Harness;
  let agent: { token: string; email: string };
  let other: { token: string; email: string };
  const get = (query: string) => h.http().get(`/v1/tickets${query}`).set('authorization', `Bearer ${agent.token}`);
  const all: Array<{ id: string; channel: string; status: string; assigned?: string }> = [];

  before(async () => {
    h = await startHarness();
    agent = await h.user('manager');
    other = await h.user('agent');
    const channels = ['chat', 'email', 'sms'];
    for (let i = 0; i < 18; i++) {
      const channel = channels[i % 3] as string;
      const t = await h.ticket({ message: `ticket ${i}`, channel });
      const row: (typeof all)[number] = { id: t.id, channel, status: 'new' };
      if (i % 2 === 0) {
        const assignee = i % 4 === 0 ? agent.email : other.email;
        const status = i % 6 === 0 ? 'closed' : 'in_progress';
        await h
          .http()
          .patch(`/v1/tickets/${t.id}`)
          .set('authorization', `Bearer ${agent.token}`)
          .set('if-match', '"1"')
          .send({ assigned_to: assignee, status })
          .expect(200);
        Object.assign(row, { assigned: assignee, status });
      }
      all.push(row);
    }
  });
  after(() => h.close());

  async function collect(query: string, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const sep = query ? '&' : '?';
      const res: { body: { items: Array<{ ticket_id: string }>; next_cursor: string | null } } = await get(
        `${query}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      ).expect(200);
      ids.push(...res.body.items.map((t: { ticket_id: string }) => t.ticket_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    return ids;
  }

  it('lists newest first and pages through everything with the cursor, without gaps or repeats', async () => {
    const ids = await collect('', 5);
    expect(ids).to.deep.equal(all.map((t) => t.id).reverse());
  });

  const cases: Array<[string, (t: (typeof all)[number]) => boolean]> = [
    ['?status=in_progress', (t) => t.status === 'in_progress'],
    ['?channel=email', (t) => t.channel === 'email'],
    ['?assigned_to=ASSIGNEE', (t) => t.assigned === 'ASSIGNEE'],
    ['?status=closed&channel=chat', (t) => t.status === 'closed' && t.channel === 'chat'],
    ['?assigned_to=ASSIGNEE&status=in_progress', (t) => t.assigned === 'ASSIGNEE' && t.status === 'in_progress'],
    ['?assigned_to=ASSIGNEE&channel=sms', (t) => t.assigned === 'ASSIGNEE' && t.channel === 'sms'],
    [
      '?assigned_to=ASSIGNEE&status=in_progress&channel=email',
      (t) => t.assigned === 'ASSIGNEE' && t.status === 'in_progress' && t.channel === 'email',
    ],
  ];
  for (const [query, predicate] of cases) {
    it(`answers ${query} exactly, with one index Query per page and never a Scan or a filter`, async () => {
      const spy = spyOnCommands(h.runtime.dynamo.client);
      const q = query.replace('ASSIGNEE', encodeURIComponent(other.email));
      const ids = await collect(q, 2);
      const want = all
        .filter((t) => predicate({ ...t, assigned: t.assigned === other.email ? 'ASSIGNEE' : t.assigned }))
        .map((t) => t.id)
        .reverse();
      expect(ids).to.deep.equal(want);
      // Per page: one Query of the (keys-only) index, then the page's tickets read by key.
      const listCalls = spy.sent.filter((c) => c.name !== 'GetItemCommand');
      const queries = listCalls.filter((c) => c.name === 'QueryCommand');
      expect(listCalls.every((c) => ['QueryCommand', 'BatchGetItemCommand'].includes(c.name))).to.equal(true);
      expect(queries.every((c) => typeof c.input.IndexName === 'string')).to.equal(true);
      expect(new Set(queries.map((c) => c.input.IndexName)).size).to.equal(1);
      expect(queries.length).to.equal(Math.max(1, Math.ceil(want.length / 2)));
      expect(listCalls.some((c) => 'FilterExpression' in c.input)).to.equal(false);
    });
  }

  it('puts the created_at range in the key condition', async () => {
    const first = await get('?limit=100').expect(200);
    const items = first.body.items as Array<{ created_at: string; ticket_id: string }>;
    const from = items[12]?.created_at as string;
    const to = items[3]?.created_at as string;
    const spy = spyOnCommands(h.runtime.dynamo.client);
    const res = await get(`?created_from=${from}&created_to=${to}&limit=100`).expect(200);
    expect(res.body.items.map((t: { ticket_id: string }) => t.ticket_id)).to.deep.equal(
      items.filter((t) => t.created_at >= from && t.created_at <= to).map((t) => t.ticket_id),
    );
    const query = spy.sent.find((c) => c.name === 'QueryCommand');
    expect(String(query?.input.KeyConditionExpression)).to.match(/BETWEEN/);
  });

  for (const [query, path] of [
    ['?limit=0', 'query.limit'],
    ['?limit=101', 'query.limit'],
    ['?limit=abc', 'query.limit'],
    ['?status=open', 'query.status'],
    ['?channel=fax', 'query.channel'],
    ['?assigned_to=nobody', 'query.assigned_to'],
    ['?created_from=yesterday', 'query.created_from'],
    ['?sort=asc', 'query.sort'],
    ['?status=new&status=closed', 'query.status'],
    ['?created_from=2026-02-01&created_to=2026-01-01', 'query.created_from'],
  ]) {
    it(`refuses ${query} with 400 instead of clamping or ignoring it`, async () => {
      const res = await get(query as string).expect(400);
      expect(res.body.error.details[0].path).to.equal(path);
    });
  }

  it('refuses a tampered cursor and a cursor from another query with 400', async () => {
    const page = await get('?limit=2').expect(200);
    const cursor = page.body.next_cursor as string;
    const [body, mac] = cursor.split('.') as [string, string];
    const forged = Buffer.from(Buffer.from(body, 'base64url').toString().replace(/FRE-/, 'FRE-X')).toString(
      'base64url',
    );
    await get(`?limit=2&cursor=${forged}.${mac}`).expect(400);
    await get(`?limit=2&cursor=${body}.${mac.slice(1)}A`).expect(400);
    await get('?limit=2&cursor=garbage').expect(400);
    await get(`?limit=2&status=new&cursor=${encodeURIComponent(cursor)}`).expect(400);
    await get(`?limit=2&cursor=${encodeURIComponent(cursor)}`).expect(200);
  });
});
