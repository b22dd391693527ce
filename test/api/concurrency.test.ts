/**
 * Many writers at once on one ticket: optimistic concurrency lets exactly one of them win per version, and
 * appending messages never loses or reorders one.
 */
import { expect } from 'chai';
import { type Harness, startHarness } from '../support/harness.js';

describe('concurrent writers on one ticket', () => {
  let h: Harness;
  let agent: { email: string; token: string };
  before(async () => {
    h = await startHarness();
    agent = await h.user('agent');
  });
  after(() => h.close());

  it('50 parallel PATCH with the same If-Match: exactly one 200, 49 precondition failures, one change applied', async () => {
    const t = await h.ticket();
    const auth = `Bearer ${agent.token}`;
    const before = await h.http().get(`/v1/tickets/${t.id}`).set('authorization', auth).expect(200);
    const etag = before.headers.etag as string;
    expect(etag).to.equal('"1"');

    // Every writer asks for a different change, so a lost update would show in the final state.
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h
          .http()
          .patch(`/v1/tickets/${t.id}`)
          .set('authorization', auth)
          .set('if-match', etag)
          .send({ tags: [`writer-${i}`] }),
      ),
    );

    const winners = results.filter((r) => r.status === 200);
    const losers = results.filter((r) => r.status !== 200);
    expect(winners).to.have.length(1);
    expect(losers.map((r) => r.status)).to.deep.equal(Array(49).fill(412));
    for (const r of losers) {
      expect(r.body.error).to.include({ code: 'precondition_failed' });
      expect(r.body.error.request_id).to.equal(r.headers['x-request-id']);
    }

    const winner = winners[0] as (typeof results)[number];
    expect(winner.headers.etag).to.equal('"2"');
    const after = await h.http().get(`/v1/tickets/${t.id}`).set('authorization', auth).expect(200);
    expect(after.body.version).to.equal(2);
    expect(after.body.tags).to.deep.equal(winner.body.tags);
    const history = await h.http().get(`/v1/tickets/${t.id}/history`).set('authorization', auth).expect(200);
    expect(history.body.events.filter((e: { type: string }) => e.type === 'ticket.updated')).to.have.length(1);

    // The next writer, with the winner's ETag, gets through.
    await h
      .http()
      .patch(`/v1/tickets/${t.id}`)
      .set('authorization', auth)
      .set('if-match', '"2"')
      .send({ priority: 'high' })
      .expect(200);
  });

  it('50 parallel customer messages: every one stored once, the conversation in time order', async () => {
    const t = await h.ticket();
    const contents = Array.from({ length: 50 }, (_, i) => `Parallel message number ${i}`);
    const sent = await Promise.all(
      contents.map((content) =>
        h
          .http()
          .post(`/v1/public/tickets/${t.id}/messages`)
          .set('authorization', `Bearer ${t.token}`)
          .send({ content }),
      ),
    );
    expect(sent.map((r) => r.status)).to.deep.equal(Array(50).fill(201));

    // One more, sent once all the others were answered: it must come last.
    const last = await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content: 'And one more after all of them' })
      .expect(201);

    type Msg = { message_id: string; type: string; content: string; created_at: string };
    const messages: Msg[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { body: { items: Msg[]; next_cursor: string | null } } = await h
        .http()
        .get(`/v1/public/tickets/${t.id}/messages`)
        .query({ limit: 40, ...(cursor && { cursor }) })
        .set('authorization', `Bearer ${t.token}`)
        .expect(200);
      messages.push(...(page.body.items as Msg[]));
      cursor = page.body.next_cursor;
    }
    const customer = messages.filter((m) => m.type === 'customer');
    // The opening message, the 50, the last one: each exactly once, as the API acknowledged it.
    expect(customer).to.have.length(52);
    expect(customer.map((m) => m.content).slice(1, 51)).to.have.members(contents);
    const acknowledged = new Map(sent.map((r) => [r.body.message.message_id as string, r.body.message as Msg]));
    for (const m of customer.slice(1, 51)) {
      expect(acknowledged.get(m.message_id), m.content).to.deep.include({
        content: m.content,
        created_at: m.created_at,
      });
    }
    // Time order (ties broken by id, as stored), the opening message first, the later one last.
    const sorted = [...messages].sort(
      (a, b) => a.created_at.localeCompare(b.created_at) || a.message_id.localeCompare(b.message_id),
    );
    expect(messages.map((m) => m.message_id)).to.deep.equal(sorted.map((m) => m.message_id));
    expect(customer[0]?.content).to.equal(
      (t.body.ticket as { messages: Msg[] }).messages.find((m) => m.type === 'customer')?.content,
    );
    expect(customer.at(-1)?.message_id).to.equal(last.body.message.message_id);
  });
});
