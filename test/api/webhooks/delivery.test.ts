/**
 * Webhooks end to end on DynamoDB Local with real loopback receivers: every change reaches a "*" subscription
 * exactly once, signed so that `standardwebhooks` verifies it; filters by type and internal notes; retries
 * with the same webhook-id; Retry-After; a dead receiver slows neither the API nor other receivers; secret
 * rotation; redelivery; a failing subscription is disabled.
 */
import { expect } from 'chai';
import type { TicketEvent } from '../../../api/events/model.js';
import { DEFAULT_DISPATCHER_OPTIONS } from '../../../api/webhooks/dispatcher.js';
import { eventually, FAST_ASSISTANT, logLines, sleep } from '../../support/assistant.js';
import { ticketEvents } from '../../support/events.js';
import { ADMIN_KEY, type Harness, startHarness } from '../../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../../support/mistral-server.js';
import {
  deliveries,
  FAST_DISPATCH,
  FAST_WEBHOOKS,
  LOOKBACK_MS,
  type Receiver,
  startReceiver,
  subscribe,
} from '../../support/webhooks.js';

const admin = `Bearer ${ADMIN_KEY}`;

describe('webhooks: delivery', () => {
  let fake: FakeMistral;
  let h: Harness;
  let agent: string;

  before(async () => {
    fake = await startFakeMistral();
    h = await startHarness({ ...FAST_ASSISTANT, MISTRAL_SERVER_URL: fake.url, ...FAST_WEBHOOKS }, undefined, {
      webhooks: FAST_DISPATCH,
    });
    await h.runtime.assistant.knowledge?.start();
    agent = (await h.user('agent')).token;
  });
  after(async () => {
    await h.close();
    await fake.close();
  });

  it('delivers every event type to a "*" subscription exactly once per change, signed for standardwebhooks', async () => {
    const receiver = await startReceiver();
    try {
      const sub = await subscribe(h, { url: receiver.url, events: ['*'], include_internal: true });
      expect(sub.secret).to.match(/^whsec_[A-Za-z0-9+/]+=*$/);

      // Every kind of change: creation with the assistant's answer, replies, a note, an update, an analysis
      // with a churn alert, a deletion.
      const t = await h.ticket({ message: 'Trop cher, je vais résilier et partir chez un concurrent' });
      await eventually(
        'the analysis',
        async () => (await ticketEvents(h, t.id)).some((e) => e.type === 'churn.alert'),
        {
          timeoutMs: 30_000,
        },
      );
      const auth = `Bearer ${agent}`;
      await h.http().post(`/v1/tickets/${t.id}/messages`).set('authorization', auth).send({ content: 'On regarde' });
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', auth)
        .send({ content: 'client VIP', internal: true })
        .expect(201);
      await h
        .http()
        .patch(`/v1/tickets/${t.id}`)
        .set('authorization', auth)
        .set('if-match', '*')
        .send({ priority: 'urgent', tags: ['retention'] })
        .expect(200);
      await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', admin).expect(204);

      const expected = await ticketEvents(h, t.id);
      const types = new Set(expected.map((e) => e.type));
      for (const type of [
        'ticket.created',
        'message.created',
        'ticket.updated',
        'ticket.deleted',
        'ticket.analyzed',
        'churn.alert',
      ]) {
        expect(types, type).to.include(type);
      }
      const ids = expected.map((e) => e.id);
      const mine = () => receiver.receipts.filter((r) => r.event.ticket_id === t.id);
      await eventually('every event delivered', () => ids.every((id) => mine().some((r) => r.event.id === id)), {
        timeoutMs: 30_000,
      });
      // Room for a duplicate to show up (a second task, a lookback re-read): none does.
      await sleep(LOOKBACK_MS * 2);
      const got = mine();
      expect(got.map((r) => r.event.id).sort()).to.deep.equal([...ids].sort());
      for (const r of got) {
        expect(receiver.count(r.webhookId), r.event.type).to.equal(1);
        const verified = receiver.verify(r, sub.secret) as TicketEvent;
        expect(verified).to.deep.equal(expected.find((e) => e.id === r.event.id));
        expect(r.headers['content-type']).to.equal('application/json');
      }
      // Another secret does not verify.
      expect(() => receiver.verify(got[0] as never, `whsec_${Buffer.alloc(32, 7).toString('base64')}`)).to.throw();

      const listed = await deliveries(h, sub.webhook_id);
      expect(listed.filter((d) => d.ticket_id === t.id && d.state === 'delivered')).to.have.length(ids.length);
      expect(listed[0]).to.include.keys('status_code', 'latency_ms', 'attempts', 'next_retry_at', 'event_type');
    } finally {
      await receiver.close();
    }
  });

  it('sends only the chosen types, and internal notes only to subscriptions that asked for them', async () => {
    const all = await startReceiver();
    const messagesOnly = await startReceiver();
    const withInternal = await startReceiver();
    try {
      await subscribe(h, { url: all.url, events: ['*'] });
      await subscribe(h, { url: messagesOnly.url, events: ['message.created'] });
      await subscribe(h, { url: withInternal.url, events: ['message.created'], include_internal: true });
      const t = await h.ticket();
      const auth = `Bearer ${agent}`;
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', auth)
        .send({ content: 'note', internal: true })
        .expect(201);
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', auth)
        .send({ content: 'Bonjour' })
        .expect(201);
      const events = await ticketEvents(h, t.id);
      const note = events.find((e) => e.type === 'message.created' && e.data.internal === true) as TicketEvent;
      const messages = events.filter((e) => e.type === 'message.created');
      const ofTicket = (r: Receiver) => r.receipts.filter((x) => x.event.ticket_id === t.id).map((x) => x.event.id);

      await eventually('the internal subscription has every message', () =>
        messages.every((m) => ofTicket(withInternal).includes(m.id)),
      );
      const publicOnes = events.filter((e) => e.id !== note.id);
      await eventually('the "*" subscription has every public event', () =>
        publicOnes.every((e) => ofTicket(all).includes(e.id)),
      );
      await eventually('the messages subscription has the public messages', () =>
        messages.filter((m) => m.id !== note.id).every((m) => ofTicket(messagesOnly).includes(m.id)),
      );
      await sleep(LOOKBACK_MS * 2);
      expect(ofTicket(all)).to.not.include(note.id);
      expect(ofTicket(messagesOnly)).to.not.include(note.id);
      expect(messagesOnly.receipts.every((r) => r.event.type === 'message.created')).to.equal(true);
      expect(ofTicket(withInternal).sort()).to.deep.equal(messages.map((m) => m.id).sort());
    } finally {
      await Promise.all([all.close(), messagesOnly.close(), withInternal.close()]);
    }
  });

  it('a receiver answering 500 then 200 gets the event once more, with the same webhook-id', async () => {
    const receiver = await startReceiver();
    try {
      const failedOnce = new Set<string>();
      receiver.answer = (r) => {
        if (failedOnce.has(r.webhookId)) return { status: 200 };
        failedOnce.add(r.webhookId);
        return { status: 500 };
      };
      const sub = await subscribe(h, { url: receiver.url, events: ['ticket.created'] });
      const t = await h.ticket();
      const created = (await ticketEvents(h, t.id)).find((e) => e.type === 'ticket.created') as TicketEvent;
      const delivered = await eventually('the delivery', async () =>
        (await deliveries(h, sub.webhook_id)).find((d) => d.event_id === created.id && d.state === 'delivered'),
      );
      await sleep(LOOKBACK_MS * 2);
      const got = receiver.receipts.filter((r) => r.event.id === created.id);
      expect(got).to.have.length(2);
      expect(got[0]?.webhookId).to.equal(got[1]?.webhookId);
      expect(got[0]?.webhookId).to.equal(delivered.webhook_message_id);
      expect(delivered).to.include({ attempts: 2, status_code: 200, error: null });
      for (const r of got) receiver.verify(r, sub.secret);
    } finally {
      await receiver.close();
    }
  });

  it("does not try again before the receiver's Retry-After", async () => {
    const receiver = await startReceiver();
    try {
      receiver.answer = () => ({ status: 503, headers: { 'retry-after': '120' } });
      const sub = await subscribe(h, { url: receiver.url, events: ['ticket.created'] });
      const t = await h.ticket();
      const d = await eventually('a failed attempt', async () =>
        (await deliveries(h, sub.webhook_id)).find((x) => x.ticket_id === t.id && x.attempts === 1 && x.next_retry_at),
      );
      expect(d).to.include({ state: 'pending', status_code: 503, error: 'receiver answered 503' });
      const waited = Date.parse(String(d.next_retry_at)) - Date.parse(String(d.last_attempt_at));
      expect(waited).to.be.at.least(120_000);
      // An HTTP date works the same way.
      const date = new Date(Date.now() + 300_000).toUTCString();
      receiver.answer = () => ({ status: 429, headers: { 'retry-after': date } });
      const other = await h.ticket();
      const later = await eventually('a failed attempt', async () =>
        (await deliveries(h, sub.webhook_id)).find((x) => x.ticket_id === other.id && x.attempts === 1),
      );
      expect(Date.parse(String(later.next_retry_at))).to.be.at.least(Date.parse(date) - 1000);
      await h.http().delete(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(204);
    } finally {
      await receiver.close();
    }
  });

  it('a dead receiver slows neither ticket requests nor the other subscriptions', async () => {
    const dead = await startReceiver();
    const alive = await startReceiver();
    try {
      dead.answer = () => 'hold';
      const deadSub = await subscribe(h, { url: dead.url, events: ['*'] });
      await subscribe(h, { url: alive.url, events: ['*'] });
      const tickets = [];
      for (let n = 0; n < 12; n++) tickets.push(await h.ticket({ message: `Panne numéro ${n}` }));
      // Ticket requests all succeed while the dead receiver holds every connection it was given.
      await eventually('the dead receiver to hold connections', () => dead.held.length > 0);
      const replies = await Promise.all(
        tickets.map((t) =>
          h.http().post(`/v1/tickets/${t.id}/messages`).set('authorization', `Bearer ${agent}`).send({ content: 'Ok' }),
        ),
      );
      expect(replies.map((r) => r.status)).to.deep.equal(replies.map(() => 201));
      const ids = (await Promise.all(tickets.map((t) => ticketEvents(h, t.id)))).flat().map((e) => e.id);
      await eventually(
        'the live receiver to get every event',
        () => ids.every((id) => alive.receipts.some((r) => r.event.id === id)),
        { timeoutMs: 30_000 },
      );
      // The dead one was only ever given its own few slots, and its attempts time out into retries.
      expect(dead.maxOpen).to.be.at.most(DEFAULT_DISPATCHER_OPTIONS.perWebhookConcurrency);
      await eventually('a timed-out attempt', async () =>
        (await deliveries(h, deadSub.webhook_id)).find((d) => String(d.error).startsWith('no answer within')),
      );
      await h.http().delete(`/v1/webhooks/${deadSub.webhook_id}`).set('authorization', admin).expect(204);
    } finally {
      await Promise.all([dead.close(), alive.close()]);
    }
  });

  it('after a secret rotation, new deliveries verify with the new secret', async () => {
    const receiver = await startReceiver();
    try {
      const sub = await subscribe(h, { url: receiver.url, events: ['ticket.created'] });
      const rotated = await h
        .http()
        .post(`/v1/webhooks/${sub.webhook_id}/rotate-secret`)
        .set('authorization', admin)
        .expect(200);
      expect(rotated.body.secret)
        .to.match(/^whsec_/)
        .and.not.equal(sub.secret);
      const t = await h.ticket();
      const r = await eventually('the delivery', () => receiver.receipts.find((x) => x.event.ticket_id === t.id));
      expect(receiver.verify(r, rotated.body.secret)).to.include({ ticket_id: t.id });
      // During the grace period the old secret still verifies too (receivers switch at their pace).
      expect(receiver.verify(r, sub.secret)).to.include({ ticket_id: t.id });
      expect(r.signature.split(' ')).to.have.length(2);
    } finally {
      await receiver.close();
    }
  });

  it('redelivers a delivery on request, with the same webhook-id', async () => {
    const receiver = await startReceiver();
    try {
      const sub = await subscribe(h, { url: receiver.url, events: ['ticket.created'] });
      const t = await h.ticket();
      const first = await eventually('the delivery', () => receiver.receipts.find((x) => x.event.ticket_id === t.id));
      const d = await eventually('its record', async () =>
        (await deliveries(h, sub.webhook_id)).find((x) => x.ticket_id === t.id && x.state === 'delivered'),
      );
      const res = await h
        .http()
        .post(`/v1/webhooks/${sub.webhook_id}/deliveries/${d.delivery_id}/redeliver`)
        .set('authorization', admin)
        .expect(200);
      expect(res.body).to.include({ state: 'pending', delivery_id: d.delivery_id });
      await eventually('the second receipt', () => receiver.count(first.webhookId) === 2);
      const again = receiver.receipts.filter((x) => x.webhookId === first.webhookId)[1];
      expect(again?.body).to.equal(first.body);
      await h
        .http()
        .post(`/v1/webhooks/${sub.webhook_id}/deliveries/bm90LWEtZGVsaXZlcnk/redeliver`)
        .set('authorization', admin)
        .expect(404);
    } finally {
      await receiver.close();
    }
  });

  it('admin only: agents are refused, unknown ids are 404, bad bodies 400', async () => {
    const receiver = await startReceiver();
    try {
      await h
        .http()
        .post('/v1/webhooks')
        .set('authorization', `Bearer ${agent}`)
        .send({ url: receiver.url, events: ['*'] })
        .expect(403);
      await h.http().get('/v1/webhooks').set('authorization', `Bearer ${agent}`).expect(403);
      await h.http().get('/v1/webhooks/wh_0000000000000000').set('authorization', admin).expect(404);
      const bad = await h
        .http()
        .post('/v1/webhooks')
        .set('authorization', admin)
        .send({ url: receiver.url, events: ['ticket.exploded'] })
        .expect(400);
      expect(bad.body.error.details[0].path).to.match(/^body\.events/);
      const notUrl = await h
        .http()
        .post('/v1/webhooks')
        .set('authorization', admin)
        .send({ url: 'not a url', events: ['*'] })
        .expect(400);
      expect(notUrl.body.error.code).to.equal('webhook_url_invalid');
      const sub = await subscribe(h, { url: receiver.url, events: ['ticket.created', '*'], description: 'CRM' });
      const listed = await h.http().get('/v1/webhooks').set('authorization', admin).expect(200);
      const mine = listed.body.webhooks.find((w: { webhook_id: string }) => w.webhook_id === sub.webhook_id);
      expect(mine).to.include({ description: 'CRM', enabled: true, include_internal: false });
      expect(mine.events).to.deep.equal(['*']);
      expect(mine).to.not.have.property('secret');
      const patched = await h
        .http()
        .patch(`/v1/webhooks/${sub.webhook_id}`)
        .set('authorization', admin)
        .send({ enabled: false, events: ['ticket.updated'] })
        .expect(200);
      expect(patched.body).to.include({ enabled: false });
      expect(patched.body.events).to.deep.equal(['ticket.updated']);
      await h.http().delete(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(204);
      await h.http().delete(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(404);
    } finally {
      await receiver.close();
    }
  });
});

describe('webhooks: giving up', () => {
  let h: Harness;

  before(async () => {
    // Failures count at once: the retry window and the failing window are zero.
    h = await startHarness(FAST_WEBHOOKS, undefined, {
      webhooks: { ...FAST_DISPATCH, retryWindowMs: 0, disableAfterMs: 0 },
    });
  });
  after(() => h.close());

  it('marks a delivery failed after its retry window, and disables a subscription failing for too long', async () => {
    const receiver = await startReceiver();
    try {
      receiver.answer = () => ({ status: 500 });
      const sub = await subscribe(h, { url: receiver.url, events: ['ticket.created'] });
      const first = await h.ticket();
      const failed = await eventually('the failed delivery', async () =>
        (await deliveries(h, sub.webhook_id)).find((d) => d.ticket_id === first.id && d.state === 'failed'),
      );
      expect(failed).to.include({ attempts: 1, status_code: 500, next_retry_at: null });
      const failing = await h.http().get(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(200);
      expect(failing.body.failing_since).to.be.a('string');
      expect(failing.body.enabled).to.equal(true);

      // The next failure comes after the (zero) window: the subscription is disabled and reported.
      await h.ticket();
      const disabled = await eventually('the disabling', async () => {
        const res = await h.http().get(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin);
        return res.body.enabled === false && res.body;
      });
      expect(disabled).to.include({ disabled_reason: 'failing' });
      const lines = logLines(h).filter((l) => l.event === 'webhook_disabled' && l.webhook_id === sub.webhook_id);
      expect(lines).to.have.length(1);
      expect(lines[0].level).to.equal('warn');

      // Nothing is sent while disabled; enabling it again clears the failure record.
      const before = receiver.receipts.length;
      await h.ticket();
      await sleep(LOOKBACK_MS * 2);
      expect(receiver.receipts.length).to.equal(before);
      const enabled = await h
        .http()
        .patch(`/v1/webhooks/${sub.webhook_id}`)
        .set('authorization', admin)
        .send({ enabled: true })
        .expect(200);
      expect(enabled.body).to.include({ enabled: true, disabled_reason: null, failing_since: null });
    } finally {
      await receiver.close();
    }
  });
});
