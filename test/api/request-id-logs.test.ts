/**
 * Tracing a request through the logs: every line written while a request is served carries its request_id,
 * whichever logger wrote it (here the assistant's, which knows nothing of HTTP); lines written outside a
 * request carry none.
 */
import { expect } from 'chai';
import { logLines, startAssistantHarness } from '../support/assistant.js';
import type { Harness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';

describe('request ids in the logs', () => {
  let fake: FakeMistral;
  let h: Harness;
  let agent: { token: string };

  before(async () => {
    fake = await startFakeMistral();
    h = await startAssistantHarness(fake);
    agent = await h.user('agent');
  });
  after(async () => {
    await h.close();
    await fake.close();
  });

  it("stamps the assistant's lines written during a request with that request's id", async () => {
    fake.always('reply', { status: 500 });
    const opened = await h
      .http()
      .post('/v1/public/tickets')
      .set('x-request-id', 'trace-open-ticket-1')
      .send({ message: 'My fibre line has been down since this morning' })
      .expect(201);
    await h
      .http()
      .post(`/v1/tickets/${opened.body.ticket.ticket_id}/suggest-reply`)
      .set('authorization', `Bearer ${agent.token}`)
      .set('x-request-id', 'trace-suggest-2')
      .expect(503);

    const lines = logLines(h);
    const replyFailed = lines.find((l) => l.message === 'assistant reply fell back to the acknowledgement');
    expect(replyFailed?.request_id).to.equal('trace-open-ticket-1');
    const suggestion = lines.find((l) => l.message === 'reply suggestion unavailable');
    expect(suggestion?.request_id).to.equal('trace-suggest-2');
    // The access log line of each request keeps its own id: nothing leaks from one request to the next.
    const access = lines.filter((l) => l.message === 'request').map((l) => [l.method, l.status, l.request_id]);
    expect(access).to.deep.include(['POST', 201, 'trace-open-ticket-1']);
    expect(access).to.deep.include(['POST', 503, 'trace-suggest-2']);
  });

  it('writes no request_id on lines logged outside any request', async () => {
    h.runtime.deps.logger.info('outside any request');
    const line = logLines(h).find((l) => l.message === 'outside any request');
    expect(line).to.not.have.property('request_id');
    const ready = logLines(h).find((l) => l.message === 'knowledge base ready');
    expect(ready).to.not.have.property('request_id');
  });
});
