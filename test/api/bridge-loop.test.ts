/**
 * A channel bridge's whole loop, as docs/bridges.md tells its operator to build it, on DynamoDB Local with a real
 * loopback receiver: an admin subscribes the bridge's endpoint to `message.created`, `ticket.updated` and
 * `ticket.reopened`; the bridge opens a ticket for a WhatsApp customer with its integration key; an agent's reply
 * reaches the endpoint signed (verified with `standardwebhooks`) with its text, and the bridge finds the customer
 * again from the ticket; internal notes never reach it; pending and closing arrive as status changes; the
 * customer's next message, written by the bridge, reopens the ticket.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { TicketEvent } from '../../api/events/model.js';
import { eventually, sleep } from '../support/assistant.js';
import { ticketEvents } from '../support/events.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';
import {
  deliveries,
  FAST_DISPATCH,
  FAST_WEBHOOKS,
  LOOKBACK_MS,
  type Receipt,
  type Receiver,
  startReceiver,
  subscribe,
} from '../support/webhooks.js';

// Generous: the machine is shared; nothing here measures time.
const WAIT = { timeoutMs: 60_000 };
const BRIDGE_EVENTS = ['message.created', 'ticket.updated', 'ticket.reopened'];

describe('a channel bridge loop: customer in, agent out, through webhooks', () => {
  let h: Harness;
  let receiver: Receiver;
  let secret: string;
  let webhookId: string;
  let bridgeKey: string;
  let agent: string;

  before(async () => {
    h = await startHarness(FAST_WEBHOOKS, undefined, { webhooks: FAST_DISPATCH });
    receiver = await startReceiver('/freeda');
    agent = `Bearer ${(await h.user('agent')).token}`;
    const key = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ name: 'WhatsApp bridge', role: 'integration' })
      .expect(201);
    bridgeKey = `Bearer ${key.body.api_key}`;
  });
  after(async () => {
    await receiver?.close();
    await h?.close();
  });

  /** The first verified delivery of this ticket that `match` accepts. */
  async function delivered(what: string, ticketId: string, match: (e: TicketEvent) => boolean): Promise<Receipt> {
    const receipt = await eventually(
      what,
      () => receiver.receipts.find((r) => r.event.ticket_id === ticketId && match(r.event)),
      WAIT,
    );
    // The bridge acts only on what verifies with the subscription's secret.
    const verified = receiver.verify(receipt, secret) as TicketEvent;
    expect(verified).to.deep.equal(receipt.event);
    return receipt;
  }

  const statusChange = (e: TicketEvent) => e.data.changes as { status?: { before: string; after: string } };

  it("relays the agent's reply, never a note, tells pending and closing, and reopens on the customer's next message", async () => {
    // The operator's subscription: the three types docs/bridges.md names, internal notes left out (the default).
    const sub = await subscribe(h, { url: receiver.url, events: BRIDGE_EVENTS, description: 'WhatsApp bridge' });
    expect(sub.secret).to.match(/^whsec_/);
    secret = sub.secret;
    webhookId = sub.webhook_id;
    const listed = await h
      .http()
      .get(`/v1/webhooks/${webhookId}`)
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .expect(200);
    expect(listed.body).to.include({ include_internal: false, enabled: true });
    expect(listed.body).to.not.have.property('secret');

    // Inbound: a WhatsApp customer writes; the bridge opens a ticket with its integration key.
    const waNumber = `3361${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
    const opened = await h
      .http()
      .post('/v1/tickets')
      .set('authorization', bridgeKey)
      .send({
        channel: 'whatsapp',
        customer: { name: 'Alice Martin', phone: `+${waNumber}`, external_id: waNumber },
        message: 'Ma fibre est coupée depuis ce matin',
        external_message_id: `wamid.${randomUUID()}`,
      })
      .expect(201);
    const ticketId = opened.body.ticket.ticket_id as string;

    // Outbound: an agent replies; the endpoint gets it, signed, with the text and the ticket.
    const replyText = 'Bonjour Alice, la ligne est rétablie : pouvez-vous redémarrer votre box ?';
    const reply = await h
      .http()
      .post(`/v1/tickets/${ticketId}/messages`)
      .set('authorization', agent)
      .send({ content: replyText })
      .expect(201);
    const replyId = reply.body.message.message_id as string;
    const got = await delivered(
      "the agent's reply",
      ticketId,
      (e) => e.type === 'message.created' && e.data.message_id === replyId,
    );
    expect(got.headers['content-type']).to.equal('application/json');
    expect(got.event.ticket_id).to.equal(ticketId);
    expect(got.event.data).to.include({ type: 'agent', internal: false, content: replyText });

    // The bridge maps the ticket back to the customer on the channel, both ways the guide gives.
    const read = await h.http().get(`/v1/tickets/${got.event.ticket_id}`).set('authorization', bridgeKey).expect(200);
    expect(read.body).to.include({
      customer_external_id: waNumber,
      customer_phone: `+${waNumber}`,
      channel: 'whatsapp',
    });
    const byPhone = await h
      .http()
      .get('/v1/tickets')
      .query({ customer: `+${waNumber.slice(0, 2)} ${waNumber.slice(2, 3)} ${waNumber.slice(3)}` })
      .set('authorization', bridgeKey)
      .expect(200);
    expect(byPhone.body.items.map((t: { ticket_id: string }) => t.ticket_id)).to.deep.equal([ticketId]);
    const byExternalId = await h
      .http()
      .get('/v1/tickets')
      .query({ customer: waNumber })
      .set('authorization', bridgeKey)
      .expect(200);
    expect(byExternalId.body.items.map((t: { ticket_id: string }) => t.ticket_id)).to.deep.equal([ticketId]);

    // An internal note is an event of the log, but not one for this subscription.
    const note = await h
      .http()
      .post(`/v1/tickets/${ticketId}/messages`)
      .set('authorization', agent)
      .send({ content: 'Client VIP, geste commercial possible', internal: true })
      .expect(201);
    const noteId = note.body.message.message_id as string;

    // Pending (waiting for the customer), then closed: both reach the bridge as status changes.
    const patch = (status: string) =>
      h
        .http()
        .patch(`/v1/tickets/${ticketId}`)
        .set('authorization', agent)
        .set('if-match', '*')
        .send({ status })
        .expect(200);
    await patch('pending');
    const pending = await delivered(
      'the pending status',
      ticketId,
      (e) => e.type === 'ticket.updated' && statusChange(e)?.status?.after === 'pending',
    );
    expect(statusChange(pending.event).status).to.deep.equal({ before: 'in_progress', after: 'pending' });
    await patch('closed');
    const closed = await delivered(
      'the closing',
      ticketId,
      (e) => e.type === 'ticket.updated' && statusChange(e)?.status?.after === 'closed',
    );
    expect(statusChange(closed.event).status).to.deep.equal({ before: 'pending', after: 'closed' });

    // The customer writes again on WhatsApp, within the reopen window: the bridge adds the message and the ticket
    // is reopened, which the endpoint hears.
    const again = await h
      .http()
      .post(`/v1/tickets/${ticketId}/messages`)
      .set('authorization', bridgeKey)
      .send({ from: 'customer', content: 'Toujours rien ce soir', external_message_id: `wamid.${randomUUID()}` })
      .expect(201);
    expect(again.body.ticket.status).to.equal('in_progress');
    const customerMessageId = again.body.message.message_id as string;
    const reopened = await delivered(
      'the reopening',
      ticketId,
      (e) => e.type === 'ticket.reopened' && e.data.message_id === customerMessageId,
    );
    expect(statusChange(reopened.event).status).to.deep.equal({ before: 'closed', after: 'in_progress' });
    const customerMessage = await delivered(
      "the customer's message",
      ticketId,
      (e) => e.type === 'message.created' && e.data.message_id === customerMessageId,
    );
    expect(customerMessage.event.data).to.include({ type: 'customer', content: 'Toujours rien ce soir' });

    // The note was logged, yet never delivered nor even queued for this subscription. Room is left for a late
    // delivery to show up, as the webhook delivery tests do.
    const events = await ticketEvents(h, ticketId);
    const noteEvent = events.find((e) => e.type === 'message.created' && e.data.message_id === noteId);
    expect(noteEvent?.data).to.include({ internal: true, type: 'internal' });
    await sleep(LOOKBACK_MS * 2);
    const mine = receiver.receipts.filter((r) => r.event.ticket_id === ticketId);
    expect(mine.map((r) => r.event.id)).to.not.include(noteEvent?.id);
    const queued = await deliveries(h, webhookId);
    expect(queued.map((d) => d.event_id)).to.not.include(noteEvent?.id);

    // Everything that arrived is of a subscribed type, verifies, and is an event of the log.
    for (const r of mine) {
      expect(BRIDGE_EVENTS).to.include(r.event.type);
      expect(receiver.verify(r, secret)).to.deep.equal(events.find((e) => e.id === r.event.id));
    }
  });
});
