/**
 * The data layer under attack and on a flaky network, on DynamoDB Local through the real HTTP stack: every
 * change is one transaction with its event, answered once even when its answer is lost, never half-written;
 * a conversation is only ever read a page at a time, and the ticket item stays small whatever happens.
 */
import { BatchWriteCommand, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { messageSortKey } from '../../api/tickets/repository.js';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { sharedEngine } from '../support/engine.js';
import { ticketEvents } from '../support/events.js';
import { type Harness, startHarness } from '../support/harness.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const TRANSACT = 'DynamoDB_20120810.TransactWriteItems';

async function partition(h: Harness, ticketId: string) {
  const out = await h.runtime.dynamo.doc.send(
    new QueryCommand({
      TableName: h.tables.tickets,
      KeyConditionExpression: 'ticket_id = :id',
      ExpressionAttributeValues: { ':id': ticketId },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

async function ticketItem(h: Harness, ticketId: string) {
  const out = await h.runtime.dynamo.doc.send(
    new GetCommand({ TableName: h.tables.tickets, Key: { ticket_id: ticketId, sk: 'TICKET' }, ConsistentRead: true }),
  );
  return out.Item;
}

describe('every change is one transaction with its event', function () {
  this.timeout(120_000);
  let h: Harness;
  let agent: string;
  let admin: string;
  const as = (token: string) => `Bearer ${token}`;

  before(async () => {
    h = await startHarness();
    agent = (await h.user('agent')).token;
    admin = (await h.user('admin')).token;
  });
  after(() => h.close());

  it('writes exactly one event per change, each in the transaction of its change', async () => {
    const t = await h.ticket(); // ticket.created + the assistant's answer (message.created)
    const counts: number[] = [(await ticketEvents(h, t.id)).length];
    const step = async (request: Promise<unknown>) => {
      await request;
      counts.push((await ticketEvents(h, t.id)).length);
    };
    const customer = () =>
      h
        .http()
        .post(`/v1/public/tickets/${t.id}/messages`)
        .set('authorization', as(t.token))
        .send({ content: 'Still down' });
    await step(customer().expect(201)); // the assistant stays silent: its acknowledgement was its last word
    await step(
      h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'On it' })
        .expect(201),
    );
    await step(
      h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', as(agent))
        .send({ content: 'note', internal: true })
        .expect(201),
    );
    await step(
      h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', as(agent))
        .set('if-match', '"2"')
        .send({ priority: 'high' })
        .expect(200),
    );
    await step(h.http().post(`/v1/public/tickets/${t.id}/close`).set('authorization', as(t.token)).expect(200));
    await step(
      h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', as(agent))
        .set('if-match', '"4"')
        .send({ status: 'in_progress' })
        .expect(200),
    );
    await step(
      h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', as(agent))
        .set('if-match', '"5"')
        .send({ status: 'pending' })
        .expect(200),
    );
    await step(customer().expect(201)); // leaves pending: the status change rides on the message's event
    await step(h.http().post(`/v1/public/tickets/${t.id}/close`).set('authorization', as(t.token)).expect(200));
    // Reopens the closed ticket: two facts, the message and the reopening, in one transaction.
    await step(customer().expect(201));
    await step(h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(admin)).expect(204));

    expect(counts).to.deep.equal([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14]);
    const log = await ticketEvents(h, t.id);
    // The two events of the reopening message share its instant: their order in the log is not defined.
    const typesInLog = log.map((e) => e.type);
    expect([...typesInLog.slice(0, 11), ...typesInLog.slice(11, 13).sort(), ...typesInLog.slice(13)]).to.deep.equal([
      'ticket.created',
      'message.created',
      'message.created',
      'message.created',
      'message.created',
      'ticket.updated',
      'ticket.updated',
      'ticket.reopened',
      'ticket.updated',
      'message.created',
      'ticket.updated',
      'message.created',
      'ticket.reopened',
      'ticket.deleted',
    ]);
    expect(log[4]?.data).to.include({ internal: true, type: 'internal' });
    expect(log[7]?.data.changes).to.deep.include({ status: { before: 'closed', after: 'in_progress' } });
    expect(log[9]?.data.changes).to.deep.equal({ status: { before: 'pending', after: 'in_progress' } });
    const reopenedBy = log.slice(11, 13);
    const [created, reopened] = [
      reopenedBy.find((e) => e.type === 'message.created'),
      reopenedBy.find((e) => e.type === 'ticket.reopened'),
    ];
    expect(created?.data).to.not.have.property('changes');
    expect(reopened?.data).to.deep.include({
      message_id: created?.data.message_id,
      changes: { status: { before: 'closed', after: 'in_progress' } },
    });
    const ids = log.map((e) => e.id);
    expect(ids).to.deep.equal([...ids].sort());
  });

  it('a wrong token reads the ticket item only, never a message', async () => {
    const t = await h.ticket();
    const spy = spyOnCommands(h.runtime.dynamo.client);
    spy.clear();
    await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', as('not-the-token')).expect(404);
    await h.http().get(`/v1/public/tickets/${t.id}/messages`).set('authorization', as('not-the-token')).expect(404);
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', as('not-the-token'))
      .send({ content: 'let me in' })
      .expect(404);
    const onTickets = spy.sent.filter((c) => c.input.TableName === h.tables.tickets);
    expect(onTickets.map((c) => c.name)).to.deep.equal(['GetItemCommand', 'GetItemCommand', 'GetItemCommand']);
    for (const c of onTickets) expect(c.input.Key).to.deep.equal({ ticket_id: t.id, sk: 'TICKET' });
  });

  describe('a conversation of thousands of messages', () => {
    const SIZE = 5000;
    let t: { id: string; token: string };
    const read: Array<{ name: string; input: Record<string, unknown>; count: number }> = [];

    before(async () => {
      t = await h.ticket();
      const text = 'x'.repeat(2000);
      const start = Date.parse('2026-01-01T00:00:00.000Z');
      const items = Array.from({ length: SIZE }, (_, i) => {
        const at = new Date(start + i * 1000).toISOString();
        const id = `m-${String(i).padStart(5, '0')}`;
        return {
          ticket_id: t.id,
          sk: messageSortKey(at, id),
          message_id: id,
          type: i % 10 === 9 ? 'internal' : 'customer',
          content: text,
          author_name: 'Alice',
          created_at: at,
        };
      });
      for (let i = 0; i < items.length; i += 25) {
        await h.runtime.dynamo.doc.send(
          new BatchWriteCommand({
            RequestItems: { [h.tables.tickets]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
          }),
        );
      }
      h.runtime.dynamo.client.middlewareStack.add(
        (next, context) => async (args) => {
          const out = await next(args);
          const count = (out.output as { Count?: number }).Count ?? 0;
          read.push({ name: String(context.commandName), input: args.input as Record<string, unknown>, count });
          return out;
        },
        { step: 'initialize', name: 'count-items-read' },
      );
    });

    it('16 concurrent reads each read one page, whatever the conversation holds', async () => {
      read.length = 0;
      const responses = await Promise.all([
        ...Array.from({ length: 8 }, () =>
          h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', as(t.token)),
        ),
        ...Array.from({ length: 8 }, () => h.http().get(`/v1/tickets/${t.id}`).set('authorization', as(agent))),
      ]);
      for (const r of responses) {
        expect(r.status).to.equal(200);
        expect(r.body.messages.length).to.be.at.most(50);
        expect(r.body.messages_next_cursor).to.be.a('string');
      }
      const queries = read.filter((c) => c.name === 'QueryCommand' && c.input.TableName === h.tables.tickets);
      expect(queries).to.have.length(16);
      for (const q of queries) {
        expect(q.input.Limit).to.equal(50);
        expect(q.count).to.be.at.most(50);
      }
    });

    it('pages through the whole conversation oldest first, internal notes left out for the customer', async () => {
      let cursor: string | null = '';
      let seen = 0;
      let last = '';
      let pages = 0;
      while (cursor !== null && pages < 60) {
        const page: { body: { items: Array<{ created_at: string; type: string }>; next_cursor: string | null } } =
          await h
            .http()
            .get(`/v1/public/tickets/${t.id}/messages`)
            .query({ limit: 100, ...(cursor && { cursor }) })
            .set('authorization', as(t.token))
            .expect(200);
        for (const m of page.body.items) {
          expect(m.type).to.not.equal('internal');
          expect(m.created_at >= last).to.equal(true);
          last = m.created_at;
        }
        seen += page.body.items.length;
        cursor = page.body.next_cursor;
        pages++;
      }
      // The opening message and its answer, then 9 in 10 of the seeded ones.
      expect(seen).to.equal(2 + SIZE * 0.9);
      const agentPage = await h
        .http()
        .get(`/v1/tickets/${t.id}/messages?limit=7`)
        .set('authorization', as(agent))
        .expect(200);
      expect(agentPage.body.items).to.have.length(7);
    });

    it('a customer message makes the assistant read the last messages only', async () => {
      read.length = 0;
      await h
        .http()
        .post(`/v1/public/tickets/${t.id}/messages`)
        .set('authorization', as(t.token))
        .send({ content: 'Bonjour' })
        .expect(201);
      const queries = read.filter((c) => c.name === 'QueryCommand' && c.input.TableName === h.tables.tickets);
      expect(queries).to.have.length(1);
      expect(queries[0]?.input).to.include({ ScanIndexForward: false, Limit: 20 });
      expect(queries[0]?.count).to.equal(20);
    });
  });

  it('300+ tag changes keep the ticket item small, and a reply still stores its status change', async () => {
    const t = await h.ticket();
    for (let i = 1; i <= 320; i++) {
      await h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', as(agent))
        .set('if-match', `"${i}"`)
        .send({ tags: [`tag-${i}`, `other-${i}`, `third-${i % 7}`] })
        .expect(200);
    }
    const reply = await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', as(agent))
      .send({ content: 'Fixed now' })
      .expect(201);
    expect(reply.body.ticket).to.include({ status: 'in_progress', version: 322 });
    const item = await ticketItem(h, t.id);
    expect(item).to.include({ status: 'in_progress' });
    expect(item?.first_response_at).to.be.a('string');
    expect(JSON.stringify(item).length).to.be.below(2048);
    const history = await h
      .http()
      .get(`/v1/tickets/${t.id}/history?limit=100`)
      .set('authorization', as(agent))
      .expect(200);
    expect(history.body.events).to.have.length(100);
    expect(history.body.next_cursor).to.be.a('string');
    expect((await ticketEvents(h, t.id)).filter((e) => e.type === 'ticket.updated')).to.have.length(320);
  });

  it('a customer message racing a close is stored before closed_at, or after it with the ticket reopened', async () => {
    for (let round = 0; round < 15; round++) {
      const t = await h.ticket();
      const [message, close] = await Promise.all([
        h
          .http()
          .post(`/v1/public/tickets/${t.id}/messages`)
          .set('authorization', as(t.token))
          .send({ content: `race ${round}` }),
        h
          .http()
          .patch(`/v1/tickets/${t.id}`)
          .set('authorization', as(agent))
          .set('if-match', '"1"')
          .send({ status: 'closed' }),
      ]);
      expect(close.status).to.equal(200);
      expect(message.status, `round ${round}`).to.equal(201);
      const stored = (await partition(h, t.id)).filter((i) => i.type === 'customer' && i.content === `race ${round}`);
      expect(stored).to.have.length(1);
      const at = String(stored[0]?.created_at);
      const item = await ticketItem(h, t.id);
      const reopened = (await ticketEvents(h, t.id)).filter((e) => e.type === 'ticket.reopened');
      if (at < close.body.closed_at) {
        // Stored first: the close came after it and stands.
        expect(item?.status, `round ${round}`).to.equal('closed');
        expect(reopened).to.deep.equal([]);
      } else {
        // The close came first: the message reopened the ticket, in its own transaction.
        expect(item?.status, `round ${round}`).to.equal('in_progress');
        expect(item).to.not.have.any.keys('closed_at', 'resolution_seconds');
        expect(reopened.map((e) => e.data.message_id)).to.deep.equal([stored[0]?.message_id]);
      }
    }
  });

  it('messages racing a DELETE leave nothing behind, and the deleted ticket refuses messages at once', async () => {
    for (let round = 0; round < 5; round++) {
      const t = await h.ticket();
      const sends = Array.from({ length: 10 }, (_, i) =>
        h
          .http()
          .post(`/v1/public/tickets/${t.id}/messages`)
          .set('authorization', as(t.token))
          .send({ content: `m${i}` }),
      );
      const [deleted, ...messages] = await Promise.all([
        h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(admin)),
        ...sends,
      ]);
      expect(deleted.status).to.equal(204);
      for (const m of messages) expect([201, 404]).to.include(m.status);
      expect(await partition(h, t.id)).to.deep.equal([]);
      await h
        .http()
        .post(`/v1/public/tickets/${t.id}/messages`)
        .set('authorization', as(t.token))
        .send({ content: 'late' })
        .expect(404);
      await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(admin)).expect(404);
    }
  });
});

describe('a write whose answer is lost is answered as the first attempt was', function () {
  this.timeout(60_000);
  let h: Harness;
  let proxy: TcpProxy;
  let agent: string;
  const as = (token: string) => `Bearer ${token}`;

  before(async () => {
    proxy = await TcpProxy.start((await sharedEngine()).endpoint);
    // A short deadline: the SDK gives up on the lost answer quickly and sends the same transaction again.
    h = await startHarness({ DYNAMODB_ENDPOINT: proxy.url, DYNAMODB_TIMEOUT_MS: '1500' });
    agent = (await h.user('agent')).token;
  });
  after(async () => {
    await h.close();
    await proxy.close();
  });

  it('a customer message is stored once and answered 201', async () => {
    const t = await h.ticket();
    proxy.dropAnswerTo(TRANSACT);
    const before = proxy.droppedAnswers;
    const res = await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', as(t.token))
      .send({ content: 'Lost in transit' });
    expect(proxy.droppedAnswers).to.equal(before + 1);
    expect(res.status).to.equal(201);
    const stored = (await partition(h, t.id)).filter((i) => i.content === 'Lost in transit');
    expect(stored).to.have.length(1);
    expect(
      (await ticketEvents(h, t.id)).filter((e) => e.data.message_id === res.body.message.message_id),
    ).to.have.length(1);
  });

  it('an agent reply is stored with its status change and first response time', async () => {
    const t = await h.ticket();
    proxy.dropAnswerTo(TRANSACT);
    const before = proxy.droppedAnswers;
    const res = await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', as(agent))
      .send({ content: 'We are on it' });
    expect(proxy.droppedAnswers).to.equal(before + 1);
    expect(res.status).to.equal(201);
    expect(res.body.ticket).to.include({ status: 'in_progress', version: 2 });
    const item = await ticketItem(h, t.id);
    // The assistant's acknowledgement was the first response; the agent's reply is recorded as theirs.
    expect(item).to.include({ status: 'in_progress', version: 2, agent_replied_at: res.body.message.created_at });
    expect(item?.first_response_at).to.be.a('string');
    expect((await partition(h, t.id)).filter((i) => i.type === 'agent')).to.have.length(1);
  });

  it('a ticket creation stores exactly one ticket', async () => {
    proxy.dropAnswerTo(TRANSACT);
    const before = proxy.droppedAnswers;
    const res = await h
      .http()
      .post('/v1/public/tickets')
      .send({ message: 'Creation lost in transit', customer_name: 'Bob' });
    expect(proxy.droppedAnswers).to.equal(before + 1);
    expect(res.status).to.equal(201);
    const scan = await h.runtime.dynamo.doc.send(
      new ScanCommand({
        TableName: h.tables.tickets,
        FilterExpression: 'content = :c',
        ExpressionAttributeValues: { ':c': 'Creation lost in transit' },
      }),
    );
    expect(scan.Items).to.have.length(1);
    expect(scan.Items?.[0]?.ticket_id).to.equal(res.body.ticket.ticket_id);
    expect(await ticketEvents(h, res.body.ticket.ticket_id)).to.have.length(2); // created, and the assistant's answer
  });
});
