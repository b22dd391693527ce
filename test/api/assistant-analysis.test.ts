import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { loadConfig } from '../../api/config.js';
import { tableEnv } from '../../api/db/tables.js';
import { createLogger } from '../../api/logger.js';
import { buildRuntime } from '../../api/runtime.js';
import {
  analysisJob,
  eventually,
  FAST_ASSISTANT,
  logLines,
  sleep,
  startAssistantHarness,
} from '../support/assistant.js';
import type { Harness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';

const TOPIC = 'arn:aws:sns:eu-west-3:123456789012:freeda-test-alerts';

const VALID = {
  sentiment: 'neutral',
  category: 'billing',
  urgency: 'low',
  churn_risk: 10,
  summary: 'Question sur la facture',
  next_action: 'Envoyer le détail de la facture',
};

describe('ticket analysis', () => {
  let fake: FakeMistral;
  let h: Harness;
  let agent: { token: string };
  const sns = mockClient(SNSClient);

  before(async () => {
    fake = await startFakeMistral();
    h = await startAssistantHarness(fake, { ALERTS_TOPIC_ARN: TOPIC, MISTRAL_TIMEOUT_MS: '5000' });
    agent = await h.user('agent');
  });
  after(async () => {
    sns.restore();
    await h.close();
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  });

  const read = async (id: string) =>
    (await h.http().get(`/v1/tickets/${id}`).set('authorization', `Bearer ${agent.token}`).expect(200)).body;
  const analysed = (id: string, timeoutMs = 5000) =>
    eventually(`analytics of ${id}`, async () => (await read(id)).analytics, { timeoutMs });

  it('analyses a new ticket after the response, never inside it, and stores analytics in the vocabulary', async () => {
    // The model's answer is held until the test releases it: the ticket's response cannot have waited for it.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.next('analysis', { until: released, answer: { json: VALID } });
    // Should a busy machine make the held call time out, the retry gets the same answer.
    fake.always('analysis', { json: VALID });
    const t = await h.ticket({ message: 'Je ne comprends pas ma facture de ce mois-ci' });
    expect((await read(t.id)).analytics).to.equal(undefined);
    await eventually('the analysis call to reach the model', () => fake.calls('analysis').length === 1);
    expect(fake.calls('analysis')[0]?.settled, 'the analysis call is still waiting for the model').to.equal(false);
    release();

    const analytics = await analysed(t.id);
    expect(analytics).to.deep.include(VALID);
    expect(analytics.analyzed_at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(analytics).to.not.have.key('alert');
    expect(fake.calls('analysis')[0]?.body.response_format).to.deep.equal({ type: 'json_object' });
    // The job is gone once the analysis is stored.
    await eventually('the job to be deleted', async () => !(await analysisJob(h, t.id)));
  });

  it('analyses every customer message again, with the new message in the conversation', async () => {
    const t = await h.ticket({ message: 'Je ne comprends pas ma facture' });
    await analysed(t.id);
    fake.reset();
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content: 'Finalement je veux résilier' })
      .expect(201);
    const analytics = await eventually('the second analysis', async () => {
      const a = (await read(t.id)).analytics;
      return a?.category === 'cancellation' && a;
    });
    expect(analytics.churn_risk).to.equal(92);
    expect(JSON.stringify(fake.calls('analysis')[0]?.body)).to.include('Finalement je veux résilier');
  });

  it('rejects invalid JSON and values outside the vocabulary, asks again, and stores only the valid answer', async () => {
    fake.next(
      'analysis',
      { content: 'Le client est mécontent.' },
      { json: { ...VALID, sentiment: 'furieux', category: 'facturation' } },
    );
    fake.always('analysis', { json: VALID });
    const t = await h.ticket({ message: 'Ma facture est fausse' });
    const analytics = await analysed(t.id);
    expect(analytics).to.deep.include(VALID);
    expect(fake.calls('analysis')).to.have.length(3);
  });

  it('records the analysis as failed after answers that keep breaking the vocabulary, storing none of them', async () => {
    fake.always('analysis', { json: { ...VALID, churn_risk: 250 } });
    const t = await h.ticket({ message: 'Question sur mon forfait' });
    const job = await eventually('a failed job', async () => {
      const j = await analysisJob(h, t.id);
      return j?.state === 'failed' && j;
    });
    expect(job.last_error).to.match(/churn_risk/);
    expect(job).to.not.have.any.keys('job_queue', 'due_at');
    expect(fake.calls('analysis')).to.have.length(3);
    expect((await read(t.id)).analytics).to.equal(undefined);
    expect(logLines(h).some((l) => l.message.startsWith('ticket analysis failed') && l.ticket_id === t.id)).to.equal(
      true,
    );
  });

  it('raises one churn alert when a ticket crosses the threshold: a churn_alert log line and an SNS message', async () => {
    const t = await h.ticket({ message: 'Trop cher, je vais résilier et partir chez un concurrent' });
    const analytics = await analysed(t.id);
    expect(analytics).to.include({ churn_risk: 92, alert: 'urgent_retention', category: 'cancellation' });

    const alerts = await eventually('the churn alert line', () => {
      const lines = logLines(h).filter((l) => l.event === 'churn_alert' && l.ticket_id === t.id);
      return lines.length > 0 && lines;
    });
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({ churn_risk: 92, category: 'cancellation', level: 'warn' });
    const published = sns.commandCalls(PublishCommand);
    expect(published).to.have.length(1);
    expect(published[0]?.args[0].input.TopicArn).to.equal(TOPIC);
    expect(JSON.parse(published[0]?.args[0].input.Message ?? '{}')).to.include({ ticket_id: t.id, churn_risk: 92 });

    // Still above the threshold after the next message: no second alert.
    fake.reset();
    await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content: 'Je confirme, je veux résilier' })
      .expect(201);
    await eventually('the job to be done', async () => !(await analysisJob(h, t.id)));
    expect(logLines(h).filter((l) => l.event === 'churn_alert' && l.ticket_id === t.id)).to.have.length(1);
    expect(sns.commandCalls(PublishCommand)).to.have.length(1);

    // The log tells both analyses, and the one alert, each written with the analytics they describe.
    const history = await h
      .http()
      .get(`/v1/tickets/${t.id}/history`)
      .set('authorization', `Bearer ${agent.token}`)
      .expect(200);
    const events = history.body.events as Array<{ type: string; actor: string; data: Record<string, unknown> }>;
    expect(events.filter((e) => e.type === 'ticket.analyzed')).to.have.length(2);
    const churn = events.filter((e) => e.type === 'churn.alert');
    expect(churn).to.have.length(1);
    expect(churn[0]).to.deep.include({
      actor: 'assistant',
      data: { churn_risk: 92, category: 'cancellation', alert: 'urgent_retention' },
    });
  });

  it("keeps an agent's concurrent update: a PATCH with If-Match during the analysis succeeds and survives its write", async () => {
    fake.next('analysis', { delayMs: 500, answer: { json: VALID } });
    const t = await h.ticket({ message: 'Ma facture a doublé' });
    await eventually('the analysis to be running', () => fake.calls('analysis').length === 1);
    const before = await h.http().get(`/v1/tickets/${t.id}`).set('authorization', `Bearer ${agent.token}`).expect(200);
    const patched = await h
      .http()
      .patch(`/v1/tickets/${t.id}`)
      .set('authorization', `Bearer ${agent.token}`)
      .set('if-match', String(before.headers.etag))
      .send({ priority: 'urgent', tags: ['billing-dispute'] })
      .expect(200);

    const analytics = await analysed(t.id);
    expect(analytics).to.deep.include(VALID);
    const after = await read(t.id);
    expect(after).to.include({ priority: 'urgent', version: patched.body.version });
    expect(after.tags).to.deep.equal(['billing-dispute']);
    // The analysis did not move the version: the agent's ETag is still good.
    await h
      .http()
      .patch(`/v1/tickets/${t.id}`)
      .set('authorization', `Bearer ${agent.token}`)
      .set('if-match', String(patched.headers.etag))
      .send({ status: 'in_progress' })
      .expect(200);
  });

  it('never lets two tasks analyse the same ticket at once: each message is analysed once', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      DYNAMODB_ENDPOINT: h.endpoint,
      ...tableEnv(h.tables),
      TOKEN_SIGNING_KEY: 'another-task-signing-key-0123456789abcdef',
      ...FAST_ASSISTANT,
      ASSISTANT_ANALYSIS_POLL_MS: '10',
      MISTRAL_SERVER_URL: fake.url,
    });
    const other = await buildRuntime(config, createLogger({ level: 'error', silent: true }));
    try {
      fake.always('analysis', { delayMs: 100, answer: { json: VALID } });
      const tickets = await Promise.all(
        Array.from({ length: 8 }, (_, i) => h.ticket({ message: `Question numéro ${i} sur ma facture` })),
      );
      for (const t of tickets) await analysed(t.id);
      await sleep(200);
      for (let i = 0; i < tickets.length; i++) {
        const calls = fake.calls('analysis').filter((c) => JSON.stringify(c.body).includes(`Question numéro ${i} `));
        expect(calls, `ticket ${i}`).to.have.length(1);
      }
    } finally {
      await other.close();
    }
  });
});

describe('analysis worker shutdown', () => {
  it('stops cleanly: close() aborts the analysis in flight and gives its job back to the queue', async function () {
    // The model's timeout below (2 minutes) is beyond this bound: only close() aborting the call ends it in time.
    this.timeout(60_000);
    const fake = await startFakeMistral();
    const h = await startAssistantHarness(fake, { MISTRAL_TIMEOUT_MS: '120000' });
    try {
      fake.always('analysis', { hang: true });
      const t = await h.ticket({ message: 'Ma box ne démarre plus' });
      await eventually('the analysis to be running', () => fake.calls('analysis').length === 1);
      expect((await analysisJob(h, t.id))?.claim_token).to.be.a('string');
      await h.runtime.assistant.stop();
      await eventually('the call to the model to be aborted', () => fake.calls('analysis')[0]?.settled === true);
      const job = await analysisJob(h, t.id);
      expect(job?.job_queue).to.equal('analysis');
      expect(job).to.not.have.key('claim_token');
      expect(Date.parse(job?.due_at ?? '')).to.be.at.most(Date.now());
    } finally {
      await h.close();
      await fake.close();
    }
  });
});
