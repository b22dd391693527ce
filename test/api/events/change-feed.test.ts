/**
 * The change feed on DynamoDB Local through the real HTTP stack: read to its end, change things, continue
 * from the cursor, and exactly the new events arrive, each once; filters, paging, a forged cursor, and the
 * reads are Queries of the feed index, never a Scan.
 */
import { expect } from 'chai';
import type { TicketEvent } from '../../../api/events/model.js';
import { spyOnCommands } from '../../support/dynamo-spy.js';
import { ticketEvents } from '../../support/events.js';
import { type Harness, startHarness } from '../../support/harness.js';

const as = (token: string) => `Bearer ${token}`;
const LOOKBACK_MS = 400;

interface Read {
  events: TicketEvent[];
  cursor: string | undefined;
}

/** Reads the feed until it says it has caught up, page by page. */
async function readToEnd(h: Harness, token: string, cursor: string | undefined, query: Record<string, string> = {}) {
  const events: TicketEvent[] = [];
  for (;;) {
    const res = await h
      .http()
      .get('/v1/events')
      .query({ ...query, ...(cursor && { after: cursor }) })
      .set('authorization', as(token))
      .expect(200);
    events.push(...res.body.events);
    cursor = res.body.next_cursor;
    if (!res.body.has_more) return { events, cursor } satisfies Read;
  }
}

/** Keeps continuing from the cursor until `count` events came (they settle after the lookback window). */
async function readUntil(h: Harness, token: string, start: Read, count: number, query: Record<string, string> = {}) {
  const events: TicketEvent[] = [];
  let cursor = start.cursor;
  while (events.length < count) {
    const next = await readToEnd(h, token, cursor, query);
    events.push(...next.events);
    cursor = next.cursor;
    if (events.length < count) await new Promise((r) => setTimeout(r, 100));
  }
  return { events, cursor } satisfies Read;
}

describe('change feed', () => {
  let h: Harness;
  let agent: string;

  before(async () => {
    h = await startHarness({ EVENTS_LOOKBACK_MS: String(LOOKBACK_MS) });
    agent = (await h.user('agent')).token;
  });
  after(() => h.close());

  it('continues after its end with exactly the new events, each once, in order', async () => {
    const first = await h.ticket();
    const firstRead = await readUntil(
      h,
      agent,
      { events: [], cursor: undefined },
      (await ticketEvents(h, first.id)).length,
    );
    const caughtUp = await readToEnd(h, agent, firstRead.cursor);
    expect(caughtUp.events).to.deep.equal([]);

    const second = await h.ticket();
    await h
      .http()
      .post(`/v1/public/tickets/${first.id}/messages`)
      .set('authorization', as(first.token))
      .send({ content: 'Still broken tonight' })
      .expect(201);
    const patched = await h
      .http()
      .patch(`/v1/tickets/${second.id}`)
      .set('authorization', as(agent))
      .set(
        'if-match',
        String((await h.http().get(`/v1/tickets/${second.id}`).set('authorization', as(agent))).headers.etag),
      )
      .send({ priority: 'high' });
    expect(patched.status).to.equal(200);

    const before = new Set([...firstRead.events, ...caughtUp.events].map((e) => e.id));
    const all = [...(await ticketEvents(h, first.id)), ...(await ticketEvents(h, second.id))];
    const expected = all.filter((e) => !before.has(e.id)).map((e) => e.id);
    expect(expected.length).to.be.greaterThan(2);

    const continued = await readUntil(h, agent, caughtUp, expected.length);
    const ids = continued.events.map((e) => e.id);
    expect([...ids].sort()).to.deep.equal([...expected].sort());
    expect(ids).to.deep.equal([...ids].sort(), 'in id (time) order');
    // Later still: nothing more, nothing again.
    await new Promise((r) => setTimeout(r, LOOKBACK_MS * 2));
    expect((await readToEnd(h, agent, continued.cursor)).events).to.deep.equal([]);
  });

  it('misses and repeats nothing while changes are written during the reading', async () => {
    const start = await readToEnd(h, agent, undefined);
    const seen = new Set(start.events.map((e) => e.id));
    const got: string[] = [];
    let cursor = start.cursor;
    const tickets: string[] = [];
    const writes = (async () => {
      for (let n = 0; n < 8; n++) tickets.push((await h.ticket()).id);
    })();
    let writing = true;
    void writes.finally(() => {
      writing = false;
    });
    while (writing) {
      const page = await readToEnd(h, agent, cursor);
      got.push(...page.events.map((e) => e.id));
      cursor = page.cursor;
    }
    const expected = (await Promise.all(tickets.map((t) => ticketEvents(h, t)))).flat().map((e) => e.id);
    const rest = await readUntil(h, agent, { events: [], cursor }, expected.length - got.length);
    got.push(...rest.events.map((e) => e.id));
    expect(got.filter((id) => seen.has(id))).to.deep.equal([]);
    expect(new Set(got).size).to.equal(got.length, 'no event twice');
    expect([...got].sort()).to.deep.equal([...expected].sort());
  });

  it('pages with limit, filters by type and by ticket, with Queries only', async () => {
    const t = await h.ticket();
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', as(t.token))
      .send({ content: 'One more thing' })
      .expect(201);
    const history = await ticketEvents(h, t.id);
    await new Promise((r) => setTimeout(r, LOOKBACK_MS * 2));

    const spy = spyOnCommands(h.runtime.dynamo.client);
    const byTicket: TicketEvent[] = [];
    let cursor: string | undefined;
    for (;;) {
      const res = await h
        .http()
        .get('/v1/events')
        .query({ ticket_id: t.id, limit: '1', ...(cursor && { after: cursor }) })
        .set('authorization', as(agent))
        .expect(200);
      expect(res.body.events.length).to.be.at.most(1);
      byTicket.push(...res.body.events);
      cursor = res.body.next_cursor;
      if (!res.body.has_more) break;
    }
    expect(byTicket.map((e) => e.id)).to.deep.equal(history.map((e) => e.id));

    const created = await readToEnd(h, agent, undefined, { types: 'ticket.created' });
    expect(created.events.length).to.be.greaterThan(0);
    expect(created.events.every((e) => e.type === 'ticket.created')).to.equal(true);
    expect(created.events.map((e) => e.ticket_id)).to.include(t.id);

    const names = spy.sent.map((c) => c.name);
    expect(names).to.include('QueryCommand');
    expect(names).to.not.include('ScanCommand');
  });

  it('refuses a forged cursor, a cursor of other filters, unknown types and customers', async () => {
    const read = await readToEnd(h, agent, undefined);
    const forged = `${read.cursor?.slice(0, -2)}xx`;
    const bad = await h.http().get('/v1/events').query({ after: forged }).set('authorization', as(agent)).expect(400);
    expect(bad.body.error.code).to.be.a('string');
    await h
      .http()
      .get('/v1/events')
      .query({ after: read.cursor, types: 'ticket.created' })
      .set('authorization', as(agent))
      .expect(400);
    await h.http().get('/v1/events').query({ types: 'ticket.exploded' }).set('authorization', as(agent)).expect(400);
    await h.http().get('/v1/events').query({ limit: '0' }).set('authorization', as(agent)).expect(400);
    await h.http().get('/v1/events').expect(401);
    const t = await h.ticket();
    await h.http().get('/v1/events').set('authorization', as(t.token)).expect(401);
  });
});
