import { expect } from 'chai';
import { DEGRADED_AFTER_FAILURES } from '../../api/assistant/assistant.js';
import { ACKNOWLEDGEMENT, signed } from '../../api/assistant/persona.js';
import { analysisJob, eventually, sleep, startAssistantHarness } from '../support/assistant.js';
import type { Harness } from '../support/harness.js';
import { deadUrl, type FakeMistral, type Scripted, startFakeMistral } from '../support/mistral-server.js';

const VALID = {
  sentiment: 'negative',
  category: 'technical',
  urgency: 'high',
  churn_risk: 30,
  summary: 'Plus de connexion',
  next_action: 'Tester la ligne',
};
const ACK = signed(ACKNOWLEDGEMENT);
/** How long a wait for the service may last on a busy machine before the test gives up (never a measure). */
const WAIT = 60_000;

describe('assistant resilience', () => {
  let fake: FakeMistral;
  let h: Harness | undefined;
  let agent: { token: string };

  before(async () => {
    fake = await startFakeMistral();
  });
  after(() => fake.close());
  afterEach(async () => {
    await h?.close();
    h = undefined;
    fake.reset();
  });

  async function start(env: Record<string, string> = {}) {
    h = await startAssistantHarness(fake, env);
    agent = await h.user('agent');
    fake.reset();
    return h;
  }
  const harness = () => h as Harness;
  const read = async (id: string) =>
    (await harness().http().get(`/v1/tickets/${id}`).set('authorization', `Bearer ${agent.token}`).expect(200)).body;
  const health = async () => (await harness().http().get('/health').expect(200)).body;
  const failEverything = (answer: Scripted) => {
    fake.always('reply', answer);
    fake.always('analysis', answer);
    fake.always('embeddings', answer);
  };

  it('answers with the acknowledgement when the model is too slow, once the reply budget is spent', async function () {
    // The model never answers and its own timeout (2 minutes) is beyond the test's: only the reply budget can
    // end the wait in time.
    this.timeout(60_000);
    await start({ ASSISTANT_REPLY_TIMEOUT_MS: '300', MISTRAL_TIMEOUT_MS: '120000' });
    fake.always('reply', { hang: true });
    const t = await harness().ticket({ message: 'Ma fibre est coupée depuis ce matin' });
    expect((t.body.assistant_message as { content: string }).content).to.equal(ACK);
    const stored = await read(t.id);
    expect(stored.messages.map((m: { type: string }) => m.type)).to.deep.equal(['customer', 'assistant']);
    // The budget ended it: on a busy machine it may run out before the chat request even left, so the
    // fallback's reason is the proof, and the model was never asked twice.
    const fallback = await eventually(
      'the fallback logged',
      () =>
        harness()
          .logs.map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.message === 'assistant reply fell back to the acknowledgement'),
      { timeoutMs: WAIT },
    );
    expect(fallback?.reason).to.equal('timeout');
    expect(fake.calls('reply').length).to.be.at.most(1);
  });

  for (const [name, answer] of [
    ['a 500', { status: 500 }],
    ['a 429', { status: 429, headers: { 'retry-after': '1' } }],
    ['a dropped connection', { reset: true }],
  ] as Array<[string, Scripted]>) {
    it(`loses no ticket and no message on ${name}: the customer gets the acknowledgement, readiness stays 200`, async () => {
      await start({ MISTRAL_BREAKER_MIN_CALLS: '1000' });
      failEverything(answer);
      const t = await harness().ticket({ message: 'Ma box redémarre sans arrêt' });
      expect((t.body.assistant_message as { content: string }).content).to.equal(ACK);
      await harness()
        .http()
        .post(`/v1/public/tickets/${t.id}/messages`)
        .set('authorization', `Bearer ${t.token}`)
        .send({ content: 'Et maintenant plus de télévision non plus' })
        .expect(201);
      const stored = await read(t.id);
      expect(stored.messages.map((m: { content: string }) => m.content)).to.deep.equal([
        'Ma box redémarre sans arrêt',
        ACK,
        'Et maintenant plus de télévision non plus',
      ]);
      expect(stored.analytics).to.equal(undefined);
      await harness().http().get('/health/ready').expect(200);
      const job = await eventually(
        'a postponed analysis',
        async () => {
          const j = await analysisJob(harness(), t.id);
          return (j?.failures ?? 0) > 0 && j;
        },
        { timeoutMs: WAIT },
      );
      expect(job.job_queue).to.equal('analysis');
    });
  }

  it('opens the circuit after repeated failures: calls fail fast without reaching Mistral, /health says degraded, ready stays 200', async () => {
    // Open for ten minutes: however slow the machine, it cannot go half-open (and let a probe through) here.
    await start({ MISTRAL_BREAKER_RESET_MS: '600000' });
    failEverything({ status: 503 });
    for (let i = 0; i < 3; i++) await harness().ticket({ message: `Panne totale de ma ligne ${i}` });
    const degraded = await eventually(
      'the circuit to open',
      async () => {
        const body = await health();
        return /circuit open/.test(body.checks.assistant.detail) && body;
      },
      { timeoutMs: WAIT },
    );
    expect(degraded.status).to.equal('degraded');
    expect(degraded.checks.assistant.detail).to.match(/circuit open/);
    await harness().http().get('/health/ready').expect(200);

    const seen = fake.requests.length;
    const t = await harness().ticket({ message: 'Toujours pas de connexion' });
    expect((t.body.assistant_message as { content: string }).content).to.equal(ACK);
    const agentSuggest = await harness()
      .http()
      .post(`/v1/tickets/${t.id}/suggest-reply`)
      .set('authorization', `Bearer ${agent.token}`)
      .expect(503);
    expect(Number(agentSuggest.headers['retry-after'])).to.be.within(1, 600);
    await sleep(200);
    expect(fake.requests.length).to.equal(seen);
  });

  it(`reports the assistant degraded after ${DEGRADED_AFTER_FAILURES} Mistral failures in a row while the circuit is still closed, and ok again after one success`, async () => {
    await start({ MISTRAL_BREAKER_MIN_CALLS: '1000' });
    const t = await harness().ticket({ message: 'Ma box clignote en rouge' });
    await eventually('the ticket to be analysed', async () => (await read(t.id)).analytics, { timeoutMs: WAIT });
    expect((await health()).checks.assistant.status).to.equal('ok');
    const suggest = () =>
      harness().http().post(`/v1/tickets/${t.id}/suggest-reply`).set('authorization', `Bearer ${agent.token}`);

    // Every call fails from now on; each suggestion makes one or two calls (the FAQ search, the chat).
    fake.reset();
    failEverything({ status: 500 });
    while (fake.requests.length < DEGRADED_AFTER_FAILURES) {
      expect((await health()).checks.assistant.status, `after ${fake.requests.length} failed calls`).to.equal('ok');
      await suggest().expect(503);
    }
    const degraded = await health();
    expect(degraded.checks.assistant.status, `after ${fake.requests.length} failed calls`).to.equal('degraded');
    expect(degraded.checks.assistant.detail).to.match(/Mistral calls failed/);
    expect(degraded.checks.assistant.detail).to.not.match(/circuit/);
    expect(degraded.status).to.equal('degraded');
    await harness().http().get('/health/ready').expect(200);

    // Mistral answers again: one success is enough.
    fake.reset();
    await suggest().expect(200);
    const healthy = await health();
    expect(healthy.checks.assistant.status).to.equal('ok');
    expect(healthy.status).to.equal('ok');
  });

  it('half-open lets exactly one probe through, and its success closes the circuit', async () => {
    // Deadlines far beyond what the held probe waits for (three other customers' requests): it is the test that
    // releases the probe, never a clock.
    await start({ MISTRAL_BREAKER_RESET_MS: '400', MISTRAL_TIMEOUT_MS: '90000', ASSISTANT_REPLY_TIMEOUT_MS: '30000' });
    failEverything({ status: 500 });
    for (let i = 0; i < 3; i++) await harness().ticket({ message: `Plus rien ne marche ${i}` });
    await eventually('the circuit to open', async () => (await health()).checks.assistant.detail.includes('open'), {
      timeoutMs: WAIT,
    });

    // Mistral is back, but every answer waits until the test releases it: the probe stays in flight.
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.reset();
    fake.always('embeddings', { until: released, answer: { status: 200 } });
    fake.always('reply', { until: released, answer: { content: 'Votre ligne est rétablie.' } });
    fake.always('analysis', { until: released, answer: { json: VALID } });
    await eventually('half-open', async () => (await health()).checks.assistant.detail.includes('half-open'), {
      timeoutMs: WAIT,
    });

    const messages = Array.from({ length: 4 }, (_, i) => `Ma connexion est lente ${i}`);
    const customers = messages.map((message) => harness().ticket({ message }));
    const probe = await eventually('the probe', () => fake.requests[0], { timeoutMs: WAIT });
    // The probe is the analysis of some ticket, or the reply (or its FAQ search) of one of these customers,
    // who then waits for it; every other customer gets the acknowledgement at once, while the probe is held.
    const text = JSON.stringify(probe.body);
    const waiting = probe.kind === 'analysis' ? -1 : messages.findIndex((m) => text.includes(m));
    const others = await Promise.all(customers.filter((_, i) => i !== waiting));
    expect(others.map((c) => (c.body.assistant_message as { content: string }).content)).to.deep.equal(
      others.map(() => ACK),
    );
    expect(probe.settled, 'the probe is still in flight').to.equal(false);
    expect(fake.requests, 'nothing but the probe reached Mistral').to.have.length(1);

    release();
    await eventually('the circuit to close', async () => (await health()).checks.assistant.status === 'ok', {
      timeoutMs: WAIT,
    });
    if (waiting >= 0) {
      const answered = await (customers[waiting] as (typeof customers)[number]);
      expect((answered.body.assistant_message as { content: string }).content).to.equal(
        signed('Votre ligne est rétablie.'),
      );
    }
    fake.reset();
    fake.next('reply', { content: 'Votre ligne est rétablie.' });
    const t = await harness().ticket({ message: 'Ma connexion est lente encore' });
    expect((t.body.assistant_message as { content: string }).content).to.equal(signed('Votre ligne est rétablie.'));
  });

  it('a Mistral outage loses nothing, and the analysis completes once Mistral is back', async () => {
    await start({ MISTRAL_BREAKER_RESET_MS: '300' });
    failEverything({ status: 502 });
    const t = await harness().ticket({ message: 'Je veux résilier, plus de connexion depuis une semaine' });
    await harness()
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content: 'Vous êtes là ?' })
      .expect(201);
    const outageStarted = Date.now();
    await eventually('the circuit to open', async () => (await health()).checks.assistant.status === 'degraded', {
      timeoutMs: WAIT,
    });
    await harness().http().get('/health/ready').expect(200);
    const during = await read(t.id);
    expect(during.messages.map((m: { type: string }) => m.type)).to.deep.equal(['customer', 'assistant', 'customer']);
    expect(during.analytics).to.equal(undefined);
    expect((await analysisJob(harness(), t.id))?.job_queue).to.equal('analysis');

    // The job's retry delay doubles with each refused attempt, so it grows with how long the outage lasted (a
    // busy machine makes it last longer): the wait allows for that, it measures nothing.
    const outageMs = Date.now() - outageStarted;
    fake.reset();
    const analytics = await eventually('the analysis after the outage', async () => (await read(t.id)).analytics, {
      timeoutMs: WAIT + 3 * outageMs,
    });
    expect(analytics).to.include({ category: 'cancellation', alert: 'urgent_retention' });
    expect(JSON.stringify(fake.calls('analysis').at(-1)?.body)).to.include('Vous êtes là ?');
    await eventually('the job to be done', async () => !(await analysisJob(harness(), t.id)), { timeoutMs: WAIT });
    expect((await health()).checks.assistant.status).to.equal('ok');
  });

  it('aborts an analysis that hangs at its deadline and tries it again', async () => {
    await start({ MISTRAL_TIMEOUT_MS: '300', MISTRAL_BREAKER_MIN_CALLS: '1000' });
    fake.next('analysis', { hang: true });
    fake.always('analysis', { json: VALID });
    const t = await harness().ticket({ message: 'Ma fibre est coupée' });
    const analytics = await eventually('the analysis', async () => (await read(t.id)).analytics, { timeoutMs: WAIT });
    expect(analytics).to.deep.include(VALID);
    // The hanging call was abandoned by the service (the fake never answers it), and asked again. On a busy
    // machine an answered call may also miss the short deadline and be asked once more: no fixed count.
    const calls = fake.calls('analysis');
    expect(calls.length).to.be.at.least(2);
    await eventually('the hanging call to be closed by the service', () => calls[0]?.settled, { timeoutMs: WAIT });
  });
});

describe('assistant with Mistral unreachable', () => {
  it('stores the ticket, answers with the acknowledgement, and reports the assistant degraded while ready', async () => {
    const h = await startAssistantHarness(await deadUrl(), {}, { waitForKnowledge: false });
    try {
      const t = await h.ticket({ message: 'Ma fibre est coupée depuis ce matin' });
      expect((t.body.assistant_message as { content: string }).content).to.equal(ACK);
      await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', `Bearer ${t.token}`).expect(200);
      await eventually(
        'the circuit to open',
        async () => {
          const body = (await h.http().get('/health').expect(200)).body;
          return body.checks.assistant.status === 'degraded';
        },
        { timeoutMs: WAIT },
      );
      await h.http().get('/health/ready').expect(200);
    } finally {
      await h.close();
    }
  });
});
