/**
 * The ticket workflow through the real HTTP stack on DynamoDB Local: `pending` (waiting for the customer) is
 * entered by an agent and left by the customer's next message, and its time is kept out of the response
 * figures; a customer's message reopens a recently closed ticket and is refused (409 `ticket_closed`) after
 * the reopen window; an agent's reply reopens a closed ticket, an internal note does not. Time is moved by
 * rewriting the stored timestamps (creation, pending since, closing), never by waiting.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { TICKET_SK } from '../../api/db/tables.js';
import type { TicketEvent } from '../../api/events/model.js';
import { publicEvent } from '../../api/events/streams.js';
import { TicketExport } from '../../api/reports/export.js';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { ticketEvents } from '../support/events.js';
import { type Harness, startHarness } from '../support/harness.js';
import { parseCsv, ticketLists, ticketsRepository } from '../support/reports.js';

const DAY = 86_400_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const seconds = (from: unknown, to: unknown) => Math.round((Date.parse(String(to)) - Date.parse(String(from))) / 1000);

async function item(h: Harness, ticketId: string) {
  const out = await h.runtime.dynamo.doc.send(
    new GetCommand({ TableName: h.tables.tickets, Key: { ticket_id: ticketId, sk: TICKET_SK }, ConsistentRead: true }),
  );
  return out.Item ?? {};
}

/** Rewrites stored times of the ticket item, as if the ticket had lived longer (never its version). */
async function backdate(h: Harness, ticketId: string, times: Record<string, string>) {
  const names = Object.fromEntries(Object.keys(times).map((k, i) => [`#a${i}`, k]));
  const values = Object.fromEntries(Object.values(times).map((v, i) => [`:v${i}`, v]));
  await h.runtime.dynamo.doc.send(
    new UpdateCommand({
      TableName: h.tables.tickets,
      Key: { ticket_id: ticketId, sk: TICKET_SK },
      UpdateExpression: `SET ${Object.keys(names)
        .map((n, i) => `${n} = :v${i}`)
        .join(', ')}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    }),
  );
}

describe('ticket workflow: pending, reopening, first responses', function () {
  this.timeout(120_000);
  let h: Harness;
  let agent: { email: string; token: string };
  const as = (token: string) => `Bearer ${token}`;

  const patch = (id: string, body: Record<string, unknown>, ifMatch = '*') =>
    h.http().patch(`/v1/tickets/${id}`).set('authorization', as(agent.token)).set('if-match', ifMatch).send(body);
  const reply = (id: string, content: string, internal = false) =>
    h.http().post(`/v1/tickets/${id}/messages`).set('authorization', as(agent.token)).send({ content, internal });
  const customer = (t: { id: string; token: string }, content: string) =>
    h.http().post(`/v1/public/tickets/${t.id}/messages`).set('authorization', as(t.token)).send({ content });
  const types = (events: TicketEvent[]) => events.map((e) => e.type);

  before(async () => {
    h = await startHarness();
    agent = await h.user('agent');
  });
  after(() => h.close());

  describe('pending', () => {
    it('is entered by an agent and left by the customer, in the message transaction, each with one event', async () => {
      const t = await h.ticket();
      const before = (await ticketEvents(h, t.id)).length;
      const entered = await patch(t.id, { status: 'pending' }).expect(200);
      expect(entered.body.status).to.equal('pending');
      expect(entered.body.pending_since).to.equal(entered.body.updated_at);
      const afterPatch = await ticketEvents(h, t.id);
      expect(afterPatch).to.have.length(before + 1);
      expect(afterPatch.at(-1)?.data.changes).to.deep.equal({ status: { before: 'new', after: 'pending' } });

      // Pending lists are a filter like any status.
      const listed = await h.http().get('/v1/tickets?status=pending').set('authorization', as(agent.token)).expect(200);
      expect(listed.body.items.map((x: { ticket_id: string }) => x.ticket_id)).to.include(t.id);

      // Pending for ten minutes already.
      await backdate(h, t.id, { pending_since: ago(600_000) });
      const pendingSince = (await item(h, t.id)).pending_since;
      const spy = spyOnCommands(h.runtime.dynamo.client);
      const message = await customer(t, 'Here is the information you asked for').expect(201);
      // One transaction: the ticket's change, the activity, the message and its event (and the analysis request).
      const writes = spy.sent.filter((c) => c.name === 'TransactWriteItemsCommand');
      expect(writes).to.have.length(1);
      const ops = ((writes[0]?.input.TransactItems ?? []) as Array<Record<string, { TableName?: string }>>).map(
        (op) => `${Object.keys(op)[0]}:${Object.values(op)[0]?.TableName}`,
      );
      expect(ops.slice(0, 4)).to.deep.equal([
        `Update:${h.tables.tickets}`,
        `Update:${h.tables.tickets}`,
        `Put:${h.tables.tickets}`,
        `Put:${h.tables.events}`,
      ]);
      const stored = await item(h, t.id);
      expect(stored.status).to.equal('in_progress');
      expect(stored).to.not.have.property('pending_since');
      expect(stored.pending_seconds).to.equal(seconds(pendingSince, message.body.message.created_at));
      expect(stored.pending_seconds).to.be.at.least(600);
      expect(stored.version).to.equal(3);

      const events = (await ticketEvents(h, t.id)).slice(afterPatch.length);
      // The message's event carries the status change (the assistant's acknowledgement was already its last word).
      expect(types(events)).to.deep.equal(['message.created']);
      expect(events[0]?.data).to.deep.include({
        message_id: message.body.message.message_id,
        changes: { status: { before: 'pending', after: 'in_progress' } },
      });
      // An agent's reply on a pending ticket leaves it pending.
      await patch(t.id, { status: 'pending' }).expect(200);
      const r = await reply(t.id, 'Thanks, checking').expect(201);
      expect(r.body.ticket.status).to.equal('pending');
    });

    it('keeps the time spent pending out of the first response and the resolution', async () => {
      const t = await h.ticket();
      await patch(t.id, { status: 'pending', assigned_to: agent.email }).expect(200);
      // Created an hour ago, pending for the last 50 minutes, nobody answered yet.
      await backdate(h, t.id, { created_at: ago(3_600_000), pending_since: ago(3_000_000) });
      await customer(t, 'I was away, here it is').expect(201);
      const left = await item(h, t.id);
      expect(left.pending_seconds).to.be.at.least(3000);

      const answer = await reply(t.id, 'Fixed on our side').expect(201);
      const answered = await item(h, t.id);
      const span = seconds(answered.created_at, answer.body.message.created_at);
      expect(answered.first_response_at).to.equal(answer.body.message.created_at);
      expect(answered.first_response_seconds).to.equal(span - Number(left.pending_seconds));
      expect(answered.first_response_seconds).to.be.below(span - 2999);

      const closed = await patch(t.id, { status: 'closed' }).expect(200);
      expect(closed.body.resolution_seconds).to.equal(
        seconds(answered.created_at, closed.body.closed_at) - Number(left.pending_seconds),
      );

      // The analytics summary reads the same stored figures.
      const manager = await h.user('manager');
      const summary = await h
        .http()
        .get(`/v1/analytics/summary?created_from=${encodeURIComponent(ago(2 * 3_600_000))}`)
        .set('authorization', as(manager.token))
        .expect(200);
      const mine = summary.body.by_assignee.find((a: { assigned_to: string }) => a.assigned_to === agent.email);
      expect(mine.first_response_seconds.count).to.be.at.least(1);
      expect(summary.body.first_response_seconds.p90).to.be.at.least(answered.first_response_seconds);
    });

    it('closing a pending ticket counts its running pending period out of the resolution', async () => {
      const t = await h.ticket();
      await patch(t.id, { status: 'pending' }).expect(200);
      await backdate(h, t.id, { created_at: ago(2 * 3_600_000), pending_since: ago(3_600_000) });
      const closed = await patch(t.id, { status: 'closed' }).expect(200);
      const stored = await item(h, t.id);
      expect(stored).to.not.have.property('pending_since');
      expect(stored.pending_seconds).to.be.at.least(3600);
      expect(closed.body.resolution_seconds).to.equal(
        seconds(stored.created_at, closed.body.closed_at) - Number(stored.pending_seconds),
      );
    });

    it('a customer message racing the move to pending never leaves a pending ticket behind the message', async () => {
      for (let round = 0; round < 10; round++) {
        const t = await h.ticket();
        await reply(t.id, 'Could you send a photo of the box?').expect(201);
        const [moved, message] = await Promise.all([patch(t.id, { status: 'pending' }), customer(t, `photo ${round}`)]);
        expect(moved.status, `round ${round}`).to.equal(200);
        expect(message.status, `round ${round}`).to.equal(201);
        const stored = await item(h, t.id);
        if (stored.status === 'pending') {
          // The agent's move came last: it waits for the customer's next message.
          expect(String(stored.pending_since) >= message.body.message.created_at, `round ${round}`).to.equal(true);
        } else {
          // The message came last: it ended the pending period in its own transaction.
          expect(stored.status, `round ${round}`).to.equal('in_progress');
          expect(stored.pending_seconds, `round ${round}`).to.be.a('number');
          expect(stored).to.not.have.property('pending_since');
        }
      }
    });
  });

  describe('reopening', () => {
    it("a customer's message inside the window reopens the ticket with a ticket.reopened event", async () => {
      const t = await h.ticket();
      await patch(t.id, { status: 'closed' }).expect(200);
      // Closed almost seven days ago.
      await backdate(h, t.id, { closed_at: ago(7 * DAY - 3_600_000) });
      const before = (await ticketEvents(h, t.id)).length;
      const message = await customer(t, 'It broke again').expect(201);
      const stored = await item(h, t.id);
      expect(stored.status).to.equal('in_progress');
      expect(stored).to.not.have.any.keys('closed_at', 'resolution_seconds');
      const events = (await ticketEvents(h, t.id)).slice(before);
      const reopened = events.filter((e) => e.type === 'ticket.reopened');
      expect(reopened).to.have.length(1);
      expect(reopened[0]).to.deep.include({ actor: 'customer' });
      expect(reopened[0]?.data).to.deep.equal({
        changes: { status: { before: 'closed', after: 'in_progress' } },
        message_id: message.body.message.message_id,
      });
      expect(events.filter((e) => e.type === 'message.created' && e.data.type === 'customer')).to.have.length(1);
      // The customer sees it on their stream.
      expect(publicEvent(reopened[0] as TicketEvent)?.data).to.deep.equal(reopened[0]?.data);
      const mine = await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', as(t.token)).expect(200);
      expect(mine.body.status).to.equal('in_progress');
    });

    it('after the window, refuses the message with 409 ticket_closed and a hint to open a new ticket', async () => {
      const t = await h.ticket();
      await patch(t.id, { status: 'closed' }).expect(200);
      await backdate(h, t.id, { closed_at: ago(7 * DAY + 60_000) });
      const before = await ticketEvents(h, t.id);
      const version = (await item(h, t.id)).version;
      const refused = await customer(t, 'Hello again').expect(409);
      expect(refused.body.error.code).to.equal('ticket_closed');
      expect(refused.body.error.message).to.match(/closed more than 7 days ago; open a new ticket/);
      expect(refused.body.error.request_id).to.be.a('string');
      const stored = await item(h, t.id);
      expect(stored).to.include({ status: 'closed', version });
      expect(await ticketEvents(h, t.id)).to.have.length(before.length);
      const page = await h
        .http()
        .get(`/v1/public/tickets/${t.id}/messages`)
        .set('authorization', as(t.token))
        .expect(200);
      expect(page.body.items.map((m: { content: string }) => m.content)).to.not.include('Hello again');
    });

    it('honours REOPEN_WINDOW_DAYS', async () => {
      const short = await startHarness({ REOPEN_WINDOW_DAYS: '1' }, h.tables);
      try {
        const t = await h.ticket();
        await patch(t.id, { status: 'closed' }).expect(200);
        await backdate(h, t.id, { closed_at: ago(2 * DAY) });
        const refused = await short
          .http()
          .post(`/v1/public/tickets/${t.id}/messages`)
          .set('authorization', as(t.token))
          .send({ content: 'Two days later' })
          .expect(409);
        expect(refused.body.error.message).to.match(/more than 1 day ago/);
        // The default window (7 days) of the other task still reopens it.
        await customer(t, 'Two days later').expect(201);
      } finally {
        await short.close();
      }
    });

    it("an agent's reply reopens a closed ticket; an internal note leaves it closed", async () => {
      const t = await h.ticket();
      await patch(t.id, { status: 'closed' }).expect(200);
      const before = (await ticketEvents(h, t.id)).length;

      const note = await reply(t.id, 'Customer called, nothing to do', true).expect(201);
      expect(note.body.ticket.status).to.equal('closed');
      const afterNote = await ticketEvents(h, t.id);
      expect(types(afterNote.slice(before))).to.deep.equal(['message.created']);
      expect(afterNote.at(-1)?.data).to.not.have.property('changes');
      expect(await item(h, t.id)).to.include({ status: 'closed' });

      const answer = await reply(t.id, 'One more thing: please restart the box').expect(201);
      expect(answer.body.ticket.status).to.equal('in_progress');
      expect(answer.body.ticket).to.not.have.any.keys('closed_at', 'resolution_seconds');
      expect(answer.headers.etag).to.equal(`"${answer.body.ticket.version}"`);
      expect(await item(h, t.id)).to.include({ status: 'in_progress', version: answer.body.ticket.version });
      const events = (await ticketEvents(h, t.id)).slice(afterNote.length);
      expect(types(events).sort()).to.deep.equal(['message.created', 'ticket.reopened']);
      const reopened = events.find((e) => e.type === 'ticket.reopened');
      expect(reopened?.actor).to.not.equal('customer');
      expect(reopened?.data.message_id).to.equal(answer.body.message.message_id);
    });

    it('a PATCH that reopens writes ticket.reopened instead of ticket.updated; the customer never sees the assignee', async () => {
      const t = await h.ticket();
      await patch(t.id, { status: 'closed' }).expect(200);
      await patch(t.id, { status: 'in_progress', assigned_to: agent.email }).expect(200);
      const last = (await ticketEvents(h, t.id)).at(-1) as TicketEvent;
      expect(last.type).to.equal('ticket.reopened');
      expect(Object.keys(last.data.changes as object).sort()).to.deep.equal(['assigned_to', 'status']);
      const view = publicEvent(last);
      expect(view?.actor).to.equal('agent');
      expect(view?.data).to.deep.equal({ changes: { status: { before: 'closed', after: 'in_progress' } } });
    });
  });

  describe('CSV export', () => {
    it('counts the running pending period up to the moment of the export', async () => {
      const t = await h.ticket({
        message: 'Ma box ne démarre plus',
        customer_name: 'Zoé',
        customer_email: 'Zoe@Example.com',
      });
      await patch(t.id, { status: 'pending', priority: 'urgent', tags: ['box', 'hardware'] }).expect(200);
      await backdate(h, t.id, { pending_since: '2026-01-01T00:00:00.000Z' });
      const exporter = new TicketExport(ticketsRepository(h), ticketLists(h), {
        clock: () => new Date('2026-01-01T01:00:00.000Z'),
      });
      let text = '';
      for await (const chunk of exporter.csv({ status: 'pending', bom: false })) text += chunk;
      const [header, ...rows] = parseCsv(text);
      const row = rows
        .map((r) => Object.fromEntries((header ?? []).map((name, i) => [name, r[i]])))
        .find((r) => r.ticket_id === t.id);
      expect(row).to.include({
        status: 'pending',
        priority: 'urgent',
        tags: 'box;hardware',
        customer_name: 'Zoé',
        customer_email: 'zoe@example.com',
        pending_seconds: '3600',
      });
    });
  });
});
