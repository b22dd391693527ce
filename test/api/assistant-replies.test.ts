import { expect } from 'chai';
import { ACKNOWLEDGEMENT, SIGNATURE, signed } from '../../api/assistant/persona.js';
import { loadConfig } from '../../api/config.js';
import { tableEnv } from '../../api/db/tables.js';
import { createLogger } from '../../api/logger.js';
import { buildRuntime } from '../../api/runtime.js';
import { eventually, FAST_ASSISTANT, startAssistantHarness } from '../support/assistant.js';
import { type Harness, startHarness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';

interface ChatTurn {
  role: string;
  content: string;
}

const turnsOf = (fake: FakeMistral, kind: 'reply' | 'analysis') =>
  fake.calls(kind).map((r) => r.body.messages as ChatTurn[]);

describe('assistant replies', () => {
  let fake: FakeMistral;
  let h: Harness;
  let agent: { token: string };
  const asAgent = () => `Bearer ${agent.token}`;

  before(async () => {
    fake = await startFakeMistral();
    h = await startAssistantHarness(fake, { ASSISTANT_KB_MIN_SCORE: '0.5' });
    agent = await h.user('agent');
  });
  after(async () => {
    await h.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  async function customerWrites(t: { id: string; token: string }, content: string) {
    return h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content })
      .expect(201);
  }

  it("answers a new ticket with the model's reply in the create response, signed once, stored in the conversation", async () => {
    fake.next('reply', { content: 'Je suis désolé pour cette coupure. Redémarrez votre Freebox.\n--\nAgent Free' });
    const t = await h.ticket({ message: 'Ma fibre est coupée depuis ce matin', customer_name: 'Alice' });
    const answer = t.body.assistant_message as { type: string; content: string; author_name: string };
    expect(answer.type).to.equal('assistant');
    expect(answer.content).to.equal(`Je suis désolé pour cette coupure. Redémarrez votre Freebox.\n\n${SIGNATURE}`);
    const ticket = t.body.ticket as { messages: Array<{ type: string }> };
    expect(ticket.messages.map((m) => m.type)).to.deep.equal(['customer', 'assistant']);
    expect(ticket.messages[1]).to.deep.equal(answer);

    const [turns] = turnsOf(fake, 'reply');
    expect(turns?.[0]?.role).to.equal('system');
    expect(turns?.slice(1)).to.deep.equal([{ role: 'user', content: 'Ma fibre est coupée depuis ce matin' }]);
    const read = await h.http().get(`/v1/public/tickets/${t.id}`).set('authorization', `Bearer ${t.token}`).expect(200);
    expect(read.body.messages.map((m: { content: string }) => m.content)).to.deep.equal([
      'Ma fibre est coupée depuis ce matin',
      answer.content,
    ]);
  });

  it('gives the model the recent conversation with each message once, and never an internal note', async () => {
    const t = await h.ticket({ message: 'Ma box clignote en rouge' });
    await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', asAgent())
      .send({ content: 'SECRET NOTE: VIP customer, offer two months free', internal: true })
      .expect(201);
    fake.reset();
    const res = await customerWrites(t, 'Toujours rien après le redémarrage');
    expect(res.body.message).to.include({ type: 'customer', content: 'Toujours rien après le redémarrage' });
    expect(res.body.assistant_message.type).to.equal('assistant');

    const turns = turnsOf(fake, 'reply')[0] ?? [];
    expect(turns.map((m) => m.role)).to.deep.equal(['system', 'user', 'assistant', 'user']);
    expect(turns[1]?.content).to.equal('Ma box clignote en rouge');
    expect(turns[3]?.content).to.equal('Toujours rien après le redémarrage');
    const all = JSON.stringify(turns);
    expect(all.split('Toujours rien après le redémarrage')).to.have.length(2);
    expect(all).to.not.include('SECRET NOTE');

    // The analysis of that message does not see the note either.
    await eventually('the analysis of the message', () => fake.calls('analysis').length > 0);
    for (const call of fake.calls('analysis')) expect(JSON.stringify(call.body)).to.not.include('SECRET NOTE');
  });

  it('answers a message that is only a greeting, thanks or simple known question at once, with no model call', async () => {
    const t = await h.ticket({ message: 'Bonjour' });
    const greeting = (t.body.assistant_message as { content: string }).content as string;
    expect(greeting).to.match(/^Bonjour ! Je suis l'assistant/);
    expect(greeting.endsWith(`\n\n${SIGNATURE}`)).to.equal(true);
    const thanks = await customerWrites(t, 'Merci beaucoup !');
    expect(thanks.body.assistant_message.content).to.match(/^Avec plaisir/);
    const invoices = await customerWrites(t, 'Comment payer ma facture ?');
    expect(invoices.body.assistant_message.content).to.include('Espace Abonné');
    expect(fake.calls('reply')).to.have.length(0);
    expect(fake.calls('embeddings')).to.have.length(0);
  });

  it('sends a greeting that carries a real question to the model', async () => {
    fake.next('reply', { content: 'Je regarde votre ligne fibre.' });
    const t = await h.ticket({ message: 'Bonjour, ma fibre est coupée depuis 3 jours' });
    expect(fake.calls('reply')).to.have.length(1);
    expect((t.body.assistant_message as { content: string }).content).to.equal(signed('Je regarde votre ligne fibre.'));
  });

  it('gives the model the FAQ entries relevant to the question, and none for an unrelated one', async () => {
    await h.ticket({ message: 'Comment résilier mon abonnement Freebox ?' });
    const system = turnsOf(fake, 'reply')[0]?.[0]?.content ?? '';
    expect(system).to.include('base de connaissances');
    expect(system).to.include('Q : Comment résilier mon abonnement Freebox ?');
    expect(system).to.include('RIO');

    fake.reset();
    await h.ticket({ message: 'Pouvez-vous me rappeler demain vers dix heures ?' });
    const unrelated = turnsOf(fake, 'reply')[0]?.[0]?.content ?? '';
    expect(unrelated).to.not.include('base de connaissances');
  });

  it('embeds the FAQ once: another task on the same table reads the stored vectors and embeds nothing', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      DYNAMODB_ENDPOINT: h.endpoint,
      ...tableEnv(h.tables),
      TOKEN_SIGNING_KEY: 'another-task-signing-key-0123456789abcdef',
      ...FAST_ASSISTANT,
      MISTRAL_SERVER_URL: fake.url,
    });
    const other = await buildRuntime(config, createLogger({ level: 'error', silent: true }));
    try {
      await other.assistant.knowledge?.start();
      expect(other.assistant.knowledge?.state).to.equal('ready');
      expect(other.assistant.knowledge?.size).to.equal(h.runtime.assistant.knowledge?.size);
      expect(fake.calls('embeddings')).to.have.length(0);
    } finally {
      await other.close();
    }
  });

  it('stays silent once an agent has replied: the conversation is theirs', async () => {
    const t = await h.ticket({ message: 'Ma ligne est coupée' });
    await h
      .http()
      .post(`/v1/tickets/${t.id}/messages`)
      .set('authorization', asAgent())
      .send({ content: 'Bonjour, je vérifie votre ligne.' })
      .expect(201);
    fake.reset();
    const res = await customerWrites(t, 'Merci, je patiente');
    expect(res.body).to.not.have.key('assistant_message');
    expect(fake.calls('reply')).to.have.length(0);
  });

  describe('suggested replies for agents', () => {
    it('suggests a reply from the conversation without internal notes, unsigned and not stored', async () => {
      const t = await h.ticket({ message: 'Mon débit est très lent le soir' });
      await h
        .http()
        .post(`/v1/tickets/${t.id}/messages`)
        .set('authorization', asAgent())
        .send({ content: 'SECRET NOTE: line test scheduled', internal: true })
        .expect(201);
      const before = (await h.http().get(`/v1/tickets/${t.id}`).set('authorization', asAgent())).body.messages.length;
      fake.reset();
      fake.next('reply', { content: 'Bonjour, pouvez-vous tester votre débit en Ethernet ?\n-- Agent Free' });
      const res = await h.http().post(`/v1/tickets/${t.id}/suggest-reply`).set('authorization', asAgent()).expect(200);
      expect(res.body).to.deep.equal({ suggestion: 'Bonjour, pouvez-vous tester votre débit en Ethernet ?' });
      const sent = JSON.stringify(fake.calls('reply')[0]?.body);
      expect(sent).to.include('Mon débit est très lent le soir');
      expect(sent).to.not.include('SECRET NOTE');
      const after = (await h.http().get(`/v1/tickets/${t.id}`).set('authorization', asAgent())).body.messages.length;
      expect(after).to.equal(before);
    });

    it('is for agents only, and answers 404 for an unknown ticket', async () => {
      const t = await h.ticket({ message: 'Bonjour' });
      await h.http().post(`/v1/tickets/${t.id}/suggest-reply`).expect(401);
      await h.http().post(`/v1/tickets/${t.id}/suggest-reply`).set('authorization', `Bearer ${t.token}`).expect(401);
      await h.http().post('/v1/tickets/FRE-00000000/suggest-reply').set('authorization', asAgent()).expect(404);
    });

    it('answers 503 with Retry-After when Mistral fails', async () => {
      const t = await h.ticket({ message: 'Bonjour' });
      fake.next('reply', { status: 500 });
      const res = await h.http().post(`/v1/tickets/${t.id}/suggest-reply`).set('authorization', asAgent()).expect(503);
      expect(res.headers['retry-after']).to.match(/^\d+$/);
      expect(res.body.error.code).to.equal('assistant_unavailable');
    });
  });
});

describe('assistant without a Mistral key', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('runs on smart replies, and otherwise tells the customer an agent will answer, once', async () => {
    const t = await h.ticket({ message: 'Ma fibre est coupée depuis ce matin' });
    expect((t.body.assistant_message as { content: string }).content).to.equal(signed(ACKNOWLEDGEMENT));
    const again = await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content: 'Et toujours rien ce soir' })
      .expect(201);
    expect(again.body).to.not.have.key('assistant_message');
    const thanks = await h
      .http()
      .post(`/v1/public/tickets/${t.id}/messages`)
      .set('authorization', `Bearer ${t.token}`)
      .send({ content: 'Merci' })
      .expect(201);
    expect(thanks.body.assistant_message.content).to.match(/^Avec plaisir/);
  });

  it('reports the assistant as disabled (smart replies only) in /health without degrading the service', async () => {
    const res = await h.http().get('/health').expect(200);
    expect(res.body.status).to.equal('ok');
    expect(res.body.checks.assistant.status).to.equal('disabled');
    expect(res.body.checks.assistant.detail).to.match(/smart replies only/);
  });

  it('answers a suggestion request with 409 assistant_not_configured: no Retry-After, one info line, no stack', async () => {
    const agent = await h.user('agent');
    const t = await h.ticket();
    const before = h.logs.length;
    const res = await h
      .http()
      .post(`/v1/tickets/${t.id}/suggest-reply`)
      .set('authorization', `Bearer ${agent.token}`)
      .set('x-request-id', 'suggest-without-model')
      .expect(409);
    expect(res.body.error.code).to.equal('assistant_not_configured');
    expect(res.body.error.message).to.match(/not configured/);
    expect(res.body.error.request_id).to.equal('suggest-without-model');
    expect(res.headers).to.not.have.property('retry-after');

    const lines = h.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusal = lines.filter((l) => /reply suggestion refused/.test(String(l.message)));
    expect(refusal, JSON.stringify(lines)).to.have.length(1);
    expect(refusal[0]?.level).to.equal('info');
    for (const line of lines) {
      expect(line.level, JSON.stringify(line)).to.not.equal('error');
      expect(JSON.stringify(line)).to.not.match(/stack|\n\s+at /);
    }
  });
});
