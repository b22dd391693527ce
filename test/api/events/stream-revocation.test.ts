/**
 * An open live stream follows its reader's access: a deactivated, deleted or logged-out user's stream ends, as
 * does a revoked API key's, and their clients' reconnections are refused; everyone else's streams go on. A
 * customer's stream ends with the deletion of its ticket. Through real HTTP and a real Server-Sent Events
 * client; each wait is for an event, never for a duration.
 */
import { expect } from 'chai';
import { ADMIN_KEY, type Harness, startHarness } from '../../support/harness.js';
import { type Listener, listen, type Served, serve } from '../../support/sse.js';

const as = (token: string) => `Bearer ${token}`;
const FAST = { EVENTS_LOOKBACK_MS: '2000', EVENTS_POLL_MS: '50' };

describe('live streams after a revocation', () => {
  let h: Harness;
  let served: Served;
  const open: Listener[] = [];
  const stream = async (path: string, token?: string) => {
    const listener = listen(served.base, path, token);
    open.push(listener);
    await listener.opened();
    return listener;
  };
  const streamToken = async (token: string) =>
    (await h.http().post('/v1/events/stream-token').set('authorization', as(token)).expect(200)).body.token as string;
  /** The stream delivers live events: a new ticket's creation reaches it. */
  const receives = async (listener: Listener) => {
    const t = await h.ticket();
    await listener.until((e) => e.ticket_id === t.id && e.type === 'ticket.created');
  };

  before(async () => {
    h = await startHarness(FAST);
    served = await serve(h);
  });
  afterEach(() => {
    for (const listener of open.splice(0)) listener.close();
  });
  after(async () => {
    await served.close();
    await h.close();
  });

  it("ends a deactivated user's open streams, refuses their reconnection, and leaves other streams running", async () => {
    const leaving = await h.user('agent');
    const staying = await h.user('agent');
    const byHeader = await stream('/v1/events/stream', leaving.token);
    const byToken = await stream(`/v1/events/stream?stream_token=${await streamToken(leaving.token)}`);
    const other = await stream('/v1/events/stream', staying.token);
    await Promise.all([receives(byHeader), receives(byToken)]);

    await h
      .http()
      .patch(`/v1/users/${leaving.email}`)
      .set('authorization', as(ADMIN_KEY))
      .send({ active: false })
      .expect(200);

    expect(await byHeader.refused()).to.equal(401);
    expect(await byToken.refused()).to.equal(401);
    await receives(other);
    expect(other.errors, 'the unaffected stream never dropped').to.equal(0);
    await h.http().get('/v1/events/stream').set('authorization', as(leaving.token)).expect(401);
  });

  it("ends the streams of a deleted user, a demoted user and a logged-out session, not the same user's other session", async () => {
    const deleted = await h.user('agent');
    const demoted = await h.user('manager');
    const loggingOut = await h.user('manager');
    const login = await h
      .http()
      .post('/v1/auth/login')
      .send({ email: loggingOut.email, password: loggingOut.password });
    const otherSession = login.body.access_token as string;
    const ofDeleted = await stream('/v1/events/stream', deleted.token);
    const ofDemoted = await stream('/v1/events/stream', demoted.token);
    const ofLogout = await stream('/v1/events/stream', loggingOut.token);
    const ofOtherSession = await stream('/v1/events/stream', otherSession);

    await h.http().delete(`/v1/users/${deleted.email}`).set('authorization', as(ADMIN_KEY)).expect(204);
    await h
      .http()
      .patch(`/v1/users/${demoted.email}`)
      .set('authorization', as(ADMIN_KEY))
      .send({ role: 'agent' })
      .expect(200);
    await h.http().post('/v1/auth/logout').set('authorization', as(loggingOut.token)).expect(204);

    expect(await ofDeleted.refused()).to.equal(401);
    expect(await ofDemoted.refused()).to.equal(401);
    expect(await ofLogout.refused()).to.equal(401);
    await receives(ofOtherSession);
    expect(ofOtherSession.errors).to.equal(0);
  });

  it("ends a revoked API key's open streams, on another instance too, and refuses their reconnection; another key's stream goes on", async () => {
    const key = async (name: string) =>
      (
        await h
          .http()
          .post('/v1/api-keys')
          .set('authorization', as(ADMIN_KEY))
          .send({ name, role: 'agent' })
          .expect(201)
      ).body as { key_id: string; api_key: string };
    const revoked = await key('Retired bridge');
    const kept = await key('Live bridge');
    const ofRevoked = await stream('/v1/events/stream', revoked.api_key);
    const ofRevokedByToken = await stream(`/v1/events/stream?stream_token=${await streamToken(revoked.api_key)}`);
    const ofKept = await stream('/v1/events/stream', kept.api_key);
    // A second instance on the same tables, which never hears of the revocation but through its own checks.
    const second = await startHarness(FAST, h.tables);
    const secondServed = await serve(second);
    try {
      const elsewhere = listen(secondServed.base, '/v1/events/stream', revoked.api_key);
      open.push(elsewhere);
      await elsewhere.opened();
      await Promise.all([receives(ofRevoked), receives(elsewhere)]);

      await h.http().delete(`/v1/api-keys/${revoked.key_id}`).set('authorization', as(ADMIN_KEY)).expect(204);

      expect(await ofRevoked.refused()).to.equal(401);
      expect(await ofRevokedByToken.refused()).to.equal(401);
      expect(await elsewhere.refused()).to.equal(401);
      await receives(ofKept);
      expect(ofKept.errors).to.equal(0);
    } finally {
      await secondServed.close();
      await second.close();
    }
  });

  it("ends a customer's stream when the ticket is deleted, after telling it so, and refuses its reconnection", async () => {
    const t = await h.ticket();
    const customerToken = (
      await h.http().post(`/v1/public/tickets/${t.id}/stream-token`).set('authorization', as(t.token)).expect(200)
    ).body.token as string;
    const byHeader = await stream(`/v1/public/tickets/${t.id}/events`, t.token);
    // Even a stream that asked for messages only ends: nothing more can come of the ticket.
    const byToken = await stream(
      `/v1/public/tickets/${t.id}/events?types=message.created&stream_token=${customerToken}`,
    );

    await h.http().delete(`/v1/tickets/${t.id}`).set('authorization', as(ADMIN_KEY)).expect(204);

    await byHeader.until((e) => e.type === 'ticket.deleted');
    expect(await byHeader.refused()).to.equal(404);
    expect(await byToken.refused()).to.equal(404);
    expect(byToken.events.some((e) => e.type === 'ticket.deleted')).to.equal(false);
    await h.http().get(`/v1/public/tickets/${t.id}/events`).query({ stream_token: customerToken }).expect(404);
  });
});
