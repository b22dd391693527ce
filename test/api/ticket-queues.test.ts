/**
 * The agents' queues: every list filter (priority, tag, unassigned, customer, oldest waiting first, updated
 * range) is answered by one index Query per page, with exactly the right tickets, in the right order, across
 * pages; a combination without an index is a 400 and reads nothing.
 */
import { expect } from 'chai';
import type { SentCommand } from '../support/dynamo-spy.js';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { type Harness, startHarness } from '../support/harness.js';

type Who = { token: string; email: string };

interface Lists {
  h: Harness;
  manager: Who;
  agent: Who;
  get(query: string): ReturnType<ReturnType<Harness['http']>['get']>;
  /** Every id of a list, page by page; and the DynamoDB commands the pages sent. */
  collect(query: string, limit: number): Promise<{ ids: string[]; commands: SentCommand[]; pages: number }>;
  patch(id: string, body: Record<string, unknown>): Promise<void>;
  reply(id: string, content: string, internal?: boolean): Promise<void>;
  customerWrites(ticket: { id: string; token: string }, content: string): Promise<void>;
  read(id: string): Promise<Record<string, unknown>>;
}

async function lists(): Promise<Lists> {
  const h = await startHarness();
  const manager = await h.user('manager');
  const agent = await h.user('agent');
  const get = (query: string) => h.http().get(`/v1/tickets${query}`).set('authorization', `Bearer ${manager.token}`);
  return {
    h,
    manager,
    agent,
    get,
    async collect(query, limit) {
      const spy = spyOnCommands(h.runtime.dynamo.client);
      const ids: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const sep = query ? '&' : '?';
        const res: { body: { items: Array<{ ticket_id: string }>; next_cursor: string | null } } = await get(
          `${query}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        ).expect(200);
        ids.push(...res.body.items.map((t) => t.ticket_id));
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor);
      return { ids, commands: [...spy.sent], pages };
    },
    async patch(id, body) {
      await h
        .http()
        .patch(`/v1/tickets/${id}`)
        .set('authorization', `Bearer ${manager.token}`)
        .set('if-match', '*')
        .send(body)
        .expect(200);
    },
    async reply(id, content, internal = false) {
      await h
        .http()
        .post(`/v1/tickets/${id}/messages`)
        .set('authorization', `Bearer ${agent.token}`)
        .send({ content, internal })
        .expect(201);
    },
    async customerWrites(ticket, content) {
      await h
        .http()
        .post(`/v1/public/tickets/${ticket.id}/messages`)
        .set('authorization', `Bearer ${ticket.token}`)
        .send({ content })
        .expect(201);
    },
    async read(id) {
      return (await h.http().get(`/v1/tickets/${id}`).set('authorization', `Bearer ${manager.token}`).expect(200)).body;
    },
  };
}

/** Resolves once the clock has moved to a later millisecond. */
async function nextMillisecond(): Promise<void> {
  const now = Date.now();
  while (Date.now() <= now) await new Promise((r) => setTimeout(r, 1));
}

/**
 * Each page is one Query of `index` (key condition only) and one read of its tickets by key; never a Scan.
 * (Commands on other tables, the caller's account, are not the list's.)
 */
function expectIndexQueries(commands: SentCommand[], index: string, pages: number) {
  const names = commands.filter((c) => !/principals/.test(String(c.input.TableName))).map((c) => c.name);
  expect(names.filter((n) => !['QueryCommand', 'BatchGetItemCommand'].includes(n))).to.deep.equal([]);
  const queries = commands.filter((c) => c.name === 'QueryCommand');
  expect(queries).to.have.length(pages);
  for (const q of queries) {
    expect(q.input.IndexName).to.equal(index);
    expect(q.input).to.not.have.property('FilterExpression');
  }
}

describe('ticket queues: priority, tags, unassigned and customers', () => {
  let l: Lists;
  const made: Array<{ id: string; token: string; priority: string; tags: string[]; assigned?: string }> = [];

  before(async () => {
    l = await lists();
    for (let i = 0; i < 9; i++) {
      const t = await l.h.ticket({ message: `ticket ${i}`, channel: i % 2 ? 'email' : 'chat' });
      const row = { id: t.id, token: t.token, priority: 'normal', tags: [] as string[] } as (typeof made)[number];
      const change: Record<string, unknown> = {};
      if (i % 3 === 0) change.priority = row.priority = 'urgent';
      if (i % 2 === 0) change.tags = row.tags = i % 4 === 0 ? ['billing', 'vip'] : ['billing'];
      if (i % 3 === 1) change.assigned_to = row.assigned = l.agent.email;
      if (Object.keys(change).length) await l.patch(t.id, change);
      made.push(row);
    }
  });
  after(() => l.h.close());

  const newestFirst = (pick: (t: (typeof made)[number]) => boolean) =>
    made
      .filter(pick)
      .map((t) => t.id)
      .reverse();

  it('lists one priority exactly, newest first, through the priority index', async () => {
    const { ids, commands, pages } = await l.collect('?priority=urgent', 1);
    expect(ids).to.deep.equal(newestFirst((t) => t.priority === 'urgent'));
    expectIndexQueries(commands, 'priority-created_at-index', pages);
    const normal = await l.collect('?priority=normal', 2);
    expect(normal.ids).to.deep.equal(newestFirst((t) => t.priority === 'normal'));
  });

  it('lists one tag exactly through its lookup items, and follows tags added and removed', async () => {
    const billing = await l.collect('?tag=billing', 2);
    expect(billing.ids).to.deep.equal(newestFirst((t) => t.tags.includes('billing')));
    expectIndexQueries(billing.commands, 'all-created_at-index', billing.pages);
    const query = billing.commands.find((c) => c.name === 'QueryCommand');
    expect(query?.input.ExpressionAttributeValues).to.deep.include({ ':pk': 'tag#billing' });
    expect((await l.collect('?tag=vip', 1)).ids).to.deep.equal(newestFirst((t) => t.tags.includes('vip')));

    // Ticket 0 loses vip and billing, gains refund; ticket 1 gains vip.
    const [t0, t1] = made as [(typeof made)[number], (typeof made)[number]];
    await l.patch(t0.id, { tags: ['refund'] });
    await l.patch(t1.id, { tags: ['vip'] });
    t0.tags = ['refund'];
    t1.tags = ['vip'];
    expect((await l.collect('?tag=billing', 2)).ids).to.deep.equal(newestFirst((t) => t.tags.includes('billing')));
    expect((await l.collect('?tag=vip', 1)).ids).to.deep.equal(newestFirst((t) => t.tags.includes('vip')));
    expect((await l.collect('?tag=refund', 5)).ids).to.deep.equal([t0.id]);
    expect((await l.collect('?tag=nothing-here', 5)).ids).to.deep.equal([]);
  });

  it('lists unassigned tickets with assigned_to=none, alone and with status and channel', async () => {
    const none = await l.collect('?assigned_to=none', 2);
    expect(none.ids).to.deep.equal(newestFirst((t) => !t.assigned));
    expectIndexQueries(none.commands, 'assignee-created_at-index', none.pages);
    const chat = await l.collect('?assigned_to=none&status=new&channel=chat', 1);
    expect(chat.ids).to.deep.equal(newestFirst((t) => !t.assigned && made.indexOf(t) % 2 === 0));
    expectIndexQueries(chat.commands, 'assignee_status_channel-created_at-index', chat.pages);

    // Taken, then released: out of the unassigned queue, then back in.
    const first = made[0] as (typeof made)[number];
    await l.patch(first.id, { assigned_to: l.agent.email });
    expect((await l.collect('?assigned_to=none', 10)).ids).to.not.include(first.id);
    expect((await l.collect(`?assigned_to=${encodeURIComponent(l.agent.email)}`, 10)).ids).to.include(first.id);
    await l.patch(first.id, { assigned_to: null });
    expect((await l.collect('?assigned_to=none', 10)).ids).to.deep.equal(newestFirst((t) => !t.assigned));
  });

  it("moves a ticket in every list of its status when an agent's first reply changes it", async () => {
    const t = await l.h.ticket({ message: 'new one', channel: 'sms' });
    await l.reply(t.id, 'On it');
    expect((await l.collect('?status=in_progress&channel=sms', 5)).ids).to.deep.equal([t.id]);
    expect(
      (await l.collect(`?assigned_to=${encodeURIComponent(l.agent.email)}&status=in_progress&channel=sms`, 5)).ids,
    ).to.deep.equal([t.id]);
    expect((await l.collect('?status=new&channel=sms', 5)).ids).to.deep.equal([]);
    expect((await l.collect('?assigned_to=none&channel=sms', 5)).ids).to.deep.equal([]);
  });

  it("finds a customer's tickets by external id, e-mail or phone, however they are written", async () => {
    const tickets = l.h.runtime.deps.tickets;
    const open = async (input: Record<string, string>) =>
      (await tickets.createPublic({ message: 'Hello', channel: 'whatsapp', ...input })).ticket.ticket_id;
    const both = await open({
      customer_external_id: 'wa-33612345678',
      customer_email: 'Bob@Example.com',
      customer_phone: '+33 6 12 34 56 78',
    });
    const byMail = await open({ customer_email: 'bob@example.com' });
    const byPhone = await open({ customer_phone: '+33 (6) 12-34-56-78' });
    const other = await open({ customer_external_id: 'wa-1', customer_email: 'eve@example.com' });

    const stored = await l.read(both);
    expect(stored).to.include({
      customer_external_id: 'wa-33612345678',
      customer_email: 'bob@example.com',
      customer_phone: '+33612345678',
    });

    const found = async (customer: string) => {
      const { ids, commands, pages } = await l.collect(`?customer=${encodeURIComponent(customer)}`, 1);
      expectIndexQueries(commands, 'all-created_at-index', pages);
      return ids;
    };
    expect(await found('wa-33612345678')).to.deep.equal([both]);
    expect(await found('BOB@example.COM')).to.deep.equal([byMail, both]);
    expect(await found('+33612345678')).to.deep.equal([byPhone, both]);
    expect(await found('+33 6 12 34 56 78')).to.deep.equal([byPhone, both]);
    expect(await found('eve@example.com')).to.deep.equal([other]);
    expect(await found('wa-1')).to.deep.equal([other]);
    expect(await found('nobody@example.com')).to.deep.equal([]);
  });

  it('binds a cursor to its filters: a tag cursor is refused on another tag', async () => {
    const page = await l.get('?tag=billing&limit=1').expect(200);
    const cursor = encodeURIComponent(page.body.next_cursor as string);
    await l.get(`?tag=vip&limit=1&cursor=${cursor}`).expect(400);
    await l.get(`?tag=billing&limit=1&cursor=${cursor}`).expect(200);
  });

  for (const query of [
    '?tag=billing&status=new',
    '?tag=billing&customer=bob@example.com',
    '?customer=bob@example.com&assigned_to=none',
    '?priority=urgent&status=new',
    '?sort=waiting&status=new',
    '?sort=waiting&created_from=2026-01-01',
    '?sort=waiting&tag=vip',
    '?updated_from=2026-01-01&status=new',
    '?sort=updated&created_from=2026-01-01',
    '?sort=created&updated_from=2026-01-01',
  ]) {
    it(`refuses ${query} with 400 unsupported_filter, without reading anything`, async () => {
      const spy = spyOnCommands(l.h.runtime.dynamo.client);
      const res = await l.get(query).expect(400);
      expect(res.body.error.code).to.equal('unsupported_filter');
      expect(res.body.error.message).to.match(/supported:/);
      expect(spy.sent.filter((c) => c.name !== 'GetItemCommand')).to.deep.equal([]);
    });
  }

  for (const [query, path] of [
    ['?tag=Not A Tag', 'query.tag'],
    ['?priority=critical', 'query.priority'],
    ['?sort=oldest', 'query.sort'],
    ['?customer=', 'query.customer'],
    ['?updated_from=2026-02-01&updated_to=2026-01-01', 'query.updated_from'],
  ]) {
    it(`refuses ${query} with 400 on ${path}`, async () => {
      const res = await l.get(encodeURI(query as string)).expect(400);
      expect(res.body.error.details[0].path).to.equal(path);
    });
  }
});

describe('ticket queues: oldest waiting first', () => {
  let l: Lists;
  const t: Array<{ id: string; token: string }> = [];

  before(async () => {
    l = await lists();
    for (let i = 0; i < 4; i++) t.push(await l.h.ticket({ message: `waiting ${i}`, channel: 'chat' }));
  });
  after(() => l.h.close());

  const ids = (n: number[]) => n.map((i) => (t[i] as { id: string }).id);

  it('orders open tickets by their oldest unanswered customer message and follows replies, notes and closes', async () => {
    const all = await l.collect('?sort=waiting', 1);
    expect(all.ids).to.deep.equal(ids([0, 1, 2, 3]));
    expectIndexQueries(all.commands, 'all-waiting_since-index', all.pages);
    const first = await l.read(ids([0])[0] as string);
    expect(first.waiting_since).to.equal(first.created_at);

    // A reply answers ticket 0; a note on ticket 1 and the assistant's answers answer nothing.
    await l.reply(ids([0])[0] as string, 'Here is the fix');
    await l.reply(ids([1])[0] as string, 'Checking with billing', true);
    expect((await l.collect('?sort=waiting', 2)).ids).to.deep.equal(ids([1, 2, 3]));
    expect(await l.read(ids([0])[0] as string)).to.not.have.property('waiting_since');

    // The customer writes again on 0: it waits from that message, behind the others; a second message
    // while it waits changes nothing.
    await l.customerWrites(t[0] as { id: string; token: string }, 'Still broken');
    const since = (await l.read(ids([0])[0] as string)).waiting_since as string;
    await l.customerWrites(t[0] as { id: string; token: string }, 'Hello?');
    expect((await l.read(ids([0])[0] as string)).waiting_since).to.equal(since);
    expect((await l.collect('?sort=waiting', 3)).ids).to.deep.equal(ids([1, 2, 3, 0]));

    // Closing ends the wait.
    await l.patch(ids([2])[0] as string, { status: 'closed' });
    expect((await l.collect('?sort=waiting', 3)).ids).to.deep.equal(ids([1, 3, 0]));
  });

  it("orders one agent's waiting tickets and the unassigned ones", async () => {
    // Ticket 0 went to the agent with the first reply: released to the unassigned queue.
    await l.patch(ids([0])[0] as string, { assigned_to: null });
    await l.patch(ids([3])[0] as string, { assigned_to: l.agent.email });
    await l.patch(ids([1])[0] as string, { assigned_to: l.agent.email });
    const mine = await l.collect(`?sort=waiting&assigned_to=${encodeURIComponent(l.agent.email)}`, 1);
    expect(mine.ids).to.deep.equal(ids([1, 3]));
    expectIndexQueries(mine.commands, 'assignee-waiting_since-index', mine.pages);
    expect((await l.collect('?sort=waiting&assigned_to=none', 1)).ids).to.deep.equal(ids([0]));
  });

  it("a move to pending ends the wait (the ticket waits for the customer); the customer's answer starts it again", async () => {
    const id = ids([3])[0] as string;
    await l.patch(id, { status: 'pending' });
    expect(await l.read(id)).to.not.have.property('waiting_since');
    expect((await l.collect('?sort=waiting', 3)).ids).to.not.include(id);
    await l.customerWrites(t[3] as { id: string; token: string }, 'Here is the screenshot');
    const back = await l.read(id);
    expect(back.status).to.equal('in_progress');
    expect(back.waiting_since).to.be.a('string');
    expect((await l.collect('?sort=waiting', 3)).ids.at(-1)).to.equal(id);
  });
});

describe('ticket queues: changed in a time range, newest change first', () => {
  let l: Lists;
  before(async () => {
    l = await lists();
  });
  after(() => l.h.close());

  it('lists the tickets changed in the range from the updated_at index, the newest change first', async () => {
    const t = [];
    for (let i = 0; i < 5; i++) t.push((await l.h.ticket({ message: `changing ${i}`, channel: 'email' })).id);
    // Range bounds strictly between the stamps of the changes (timestamps have millisecond precision).
    const boundary = async () => {
      await nextMillisecond();
      const at = new Date().toISOString();
      await nextMillisecond();
      return at;
    };
    const start = await boundary();
    // Changed in the order 3, 0, 4; tickets 1 and 2 keep their creation time as last change.
    for (const i of [3, 0, 4]) await l.patch(t[i] as string, { priority: 'high' });
    const end = await boundary();
    await l.patch(t[1] as string, { priority: 'low' });

    const inRange = await l.collect(`?updated_from=${start}&updated_to=${end}`, 2);
    expect(inRange.ids).to.deep.equal([t[4], t[0], t[3]]);
    expectIndexQueries(inRange.commands, 'all-updated_at-index', inRange.pages);
    const query = inRange.commands.find((c) => c.name === 'QueryCommand');
    expect(String(query?.input.KeyConditionExpression)).to.match(/BETWEEN/);
    expect(query?.input.ScanIndexForward).to.equal(false);

    expect((await l.collect(`?updated_from=${start}`, 10)).ids).to.deep.equal([t[1], t[4], t[0], t[3]]);
    expect((await l.collect('?sort=updated', 2)).ids).to.deep.equal([t[1], t[4], t[0], t[3], t[2]]);
  });
});
