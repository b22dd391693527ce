import { expect } from 'chai';
import { AppError } from '../../api/errors.js';
import { AnalyticsSummaryService } from '../../api/reports/summary.js';
import { type Harness, startHarness } from '../support/harness.js';
import { recordCommands, type SeedTicket, seed, seedId, ticketLists, ticketsRepository } from '../support/reports.js';

const at = (day: number, seconds = 0) =>
  new Date(Date.parse(`2026-04-${String(day).padStart(2, '0')}T10:00:00.000Z`) + seconds * 1000).toISOString();

describe('analytics summary (GET /v1/analytics/summary)', () => {
  let h: Harness;
  let manager: string;
  const id = { a: seedId(), b: seedId(), c: seedId(), d: seedId(), e: seedId(), f: seedId() };
  const APRIL = '?created_from=2026-04-01&created_to=2026-04-30T23:59:59.999Z';
  const ANN = 'ann@freeda.test';
  const BOB = 'bob@freeda.test';

  const get = (query: string, token = manager) =>
    h.http().get(`/v1/analytics/summary${query}`).set('authorization', `Bearer ${token}`);

  before(async () => {
    h = await startHarness();
    manager = (await h.user('manager')).token;
    const tickets: SeedTicket[] = [
      {
        id: id.a,
        created_at: at(2),
        status: 'closed',
        channel: 'chat',
        closed_at: at(2, 100),
        resolution_seconds: 100,
        assigned_to: ANN,
        first_response_at: at(2, 10),
        fields: { first_response_seconds: 10 },
        analytics: {
          category: 'billing',
          sentiment: 'negative',
          urgency: 'high',
          churn_risk: 90,
          alert: 'urgent_retention',
        },
      },
      {
        id: id.b,
        created_at: at(3),
        status: 'closed',
        channel: 'email',
        closed_at: at(3, 300),
        resolution_seconds: 300,
        assigned_to: ANN,
        // Stored before the assistant's answers were told apart: first_response_at is the assistant's.
        first_response_at: at(3, 5),
        fields: { agent_replied_at: at(3, 20) },
        analytics: { category: 'technical', sentiment: 'neutral', urgency: 'medium', churn_risk: 20 },
      },
      {
        id: id.c,
        created_at: at(4),
        status: 'closed',
        channel: 'email',
        closed_at: at(4, 200),
        resolution_seconds: 200,
        assigned_to: BOB,
        first_response_at: at(4, 30),
        fields: {
          first_response_seconds: 30,
          first_assistant_response_at: at(4, 2),
          first_assistant_response_seconds: 2,
        },
      },
      {
        id: id.d,
        created_at: at(5),
        status: 'new',
        channel: 'phone',
        // An earlier version's stamp of the acknowledgement: not a response.
        first_response_at: at(5, 7),
        analytics: {
          category: 'cancellation',
          sentiment: 'negative',
          urgency: 'high',
          churn_risk: 95,
          alert: 'urgent_retention',
        },
      },
      {
        id: id.e,
        created_at: at(6),
        status: 'pending',
        channel: 'whatsapp',
        assigned_to: BOB,
        // Answered 100 s after creation, 60 of them pending.
        first_response_at: at(6, 100),
        fields: { first_response_seconds: 40, pending_since: at(6, 200), pending_seconds: 60 },
        analytics: {
          category: 'sales',
          sentiment: 'positive',
          urgency: 'low',
          churn_risk: 85,
          alert: 'urgent_retention',
        },
      },
      {
        id: id.f,
        created_at: at(7),
        status: 'closed',
        channel: 'sms',
        closed_at: at(7, 1000),
        resolution_seconds: 1000,
        first_response_at: at(7, 50),
        fields: { first_response_seconds: 50, first_assistant_response_at: at(7, 4) },
        analytics: {
          category: 'other',
          sentiment: 'neutral',
          urgency: 'low',
          churn_risk: 99,
          alert: 'urgent_retention',
        },
      },
      // Outside the range.
      { id: seedId(), created_at: '2026-03-31T23:59:59.999Z', status: 'closed', resolution_seconds: 5 },
      {
        id: seedId(),
        created_at: '2026-05-01T00:00:00.000Z',
        analytics: { churn_risk: 99, alert: 'urgent_retention' },
      },
    ];
    await seed(h, tickets);
  });
  after(() => h.close());

  it('counts, alerts and response times match the tickets created in the range', async () => {
    const res = await get(APRIL).expect(200);
    expect(res.body).to.deep.equal({
      created_from: '2026-04-01T00:00:00.000Z',
      created_to: '2026-04-30T23:59:59.999Z',
      tickets: 6,
      by_status: { new: 1, in_progress: 0, pending: 1, closed: 4 },
      by_channel: { chat: 1, email: 2, phone: 1, whatsapp: 1, sms: 1 },
      analyzed: 5,
      by_category: { billing: 1, technical: 1, sales: 1, cancellation: 1, other: 1 },
      by_sentiment: { positive: 1, neutral: 2, negative: 2 },
      by_urgency: { low: 2, medium: 1, high: 2 },
      // Open tickets only (the closed one at 99 is not an alert any more), highest risk first.
      open_churn_alerts: {
        count: 2,
        tickets: [
          { ticket_id: id.d, status: 'new', churn_risk: 95, created_at: at(5) },
          { ticket_id: id.e, status: 'pending', churn_risk: 85, created_at: at(6) },
        ],
      },
      // 100, 200, 300, 1000: median between the two middle values, p90 by nearest rank.
      resolution_seconds: { count: 4, median: 250, p90: 1000 },
      // Agents' first replies, pending time excluded (e: 40, not 100); d's old stamp was the assistant's.
      first_response_seconds: { count: 5, median: 30, p90: 50 },
      // The assistant's real answers: c (2) and f (4); b's from an earlier version is not known apart.
      first_assistant_response_seconds: { count: 2, median: 3, p90: 4 },
      by_assignee: [
        {
          assigned_to: ANN,
          tickets: 2,
          by_status: { new: 0, in_progress: 0, pending: 0, closed: 2 },
          first_response_seconds: { count: 2, median: 15, p90: 20 },
          resolution_seconds: { count: 2, median: 200, p90: 300 },
        },
        {
          assigned_to: BOB,
          tickets: 2,
          by_status: { new: 0, in_progress: 0, pending: 1, closed: 1 },
          first_response_seconds: { count: 2, median: 35, p90: 40 },
          resolution_seconds: { count: 1, median: 200, p90: 200 },
        },
        {
          assigned_to: null,
          tickets: 2,
          by_status: { new: 1, in_progress: 0, pending: 0, closed: 1 },
          first_response_seconds: { count: 1, median: 50, p90: 50 },
          resolution_seconds: { count: 1, median: 1000, p90: 1000 },
        },
      ],
    });
  });

  it('reads one index range with a key condition on created_at, never a Scan', async () => {
    const { commands } = await recordCommands(h, () => get(APRIL).expect(200));
    // The keys of the range from the index, then those tickets' summary attributes by key.
    expect(commands.map((c) => c.name)).to.deep.equal(['QueryCommand', 'BatchGetItemCommand']);
    const [query, read] = commands;
    expect(query?.input.IndexName).to.equal('all-created_at-index');
    expect(query?.input.KeyConditionExpression).to.match(/BETWEEN :from AND :to/);
    expect(query?.input).to.not.have.property('FilterExpression');
    const requests = Object.values(read?.input.RequestItems as Record<string, { ProjectionExpression?: string }>);
    expect(requests[0]?.ProjectionExpression).to.be.a('string');
  });

  it('covers the last 30 days by default', async () => {
    const fresh = await h.ticket({ message: 'Bonjour', channel: 'email' });
    const res = await get('').expect(200);
    expect(res.body.tickets).to.equal(1);
    expect(res.body.by_channel.email).to.equal(1);
    const span = Date.parse(res.body.created_to) - Date.parse(res.body.created_from);
    expect(span).to.equal(30 * 86_400_000);
    expect(fresh.id).to.be.a('string');
  });

  it('refuses ranges longer than 92 days, reversed ranges and unknown parameters with a 400', async () => {
    const long = await get('?created_from=2026-01-01&created_to=2026-04-04').expect(400);
    expect(long.body.error.message).to.match(/at most 92 days/);
    await get('?created_from=2026-01-01&created_to=2026-04-03').expect(200);
    await get('?created_from=2026-04-02&created_to=2026-04-01').expect(400);
    await get('?created_to=2026-04-30&created_from=2025-12-01').expect(400);
    await get('?status=closed').expect(400);
    await get('?created_from=yesterday').expect(400);
  });

  it('stops reading and refuses a range holding more tickets than the bound', async () => {
    const bounded = new AnalyticsSummaryService(ticketLists(h), { maxTickets: 3, pageSize: 2 });
    const err = await bounded
      .summary({ created_from: '2026-04-01T00:00:00.000Z', created_to: '2026-04-30T00:00:00.000Z' })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AppError);
    expect(err).to.include({ status: 400, code: 'range_too_large' });
    const fine = new AnalyticsSummaryService(ticketLists(h), { maxTickets: 6, pageSize: 2 });
    expect(
      (await fine.summary({ created_from: '2026-04-01T00:00:00.000Z', created_to: '2026-04-30T00:00:00.000Z' }))
        .tickets,
    ).to.equal(6);
  });

  it('is for managers and admins: agents get 403, anonymous callers 401', async () => {
    const agent = (await h.user('agent')).token;
    const admin = (await h.user('admin')).token;
    await h.http().get(`/v1/analytics/summary${APRIL}`).expect(401);
    const denied = await get(APRIL, agent).expect(403);
    expect(denied.body.error.code).to.equal('forbidden');
    await get(APRIL, admin).expect(200);
  });

  it("stamps the first response with an agent's first reply only: never the acknowledgement, never a note", async () => {
    const repo = ticketsRepository(h);
    // No model configured: the assistant acknowledges, which is no response.
    const ticket = await h.ticket({ message: 'Ma ligne est coupée depuis ce matin' });
    expect(ticket.body.assistant_message).to.be.an('object');
    const agent = await h.user('agent');
    const post = (content: string, internal = false) =>
      h
        .http()
        .post(`/v1/tickets/${ticket.id}/messages`)
        .set('authorization', `Bearer ${agent.token}`)
        .send({ content, internal })
        .expect(201);
    const created = await repo.getTicket(ticket.id);
    expect(created).to.not.have.any.keys('first_response_at', 'first_assistant_response_at', 'agent_replied_at');
    await post('internal only', true);
    expect(await repo.getTicket(ticket.id)).to.not.have.any.keys('first_response_at', 'agent_replied_at');
    const reply = await post('Nous regardons');
    const stamped = await repo.getTicket(ticket.id);
    const at = reply.body.message.created_at;
    expect(stamped).to.include({ first_response_at: at, agent_replied_at: at });
    expect(stamped?.first_response_seconds).to.equal(
      Math.round((Date.parse(at) - Date.parse(String(created?.created_at))) / 1000),
    );
    await post('Encore une réponse');
    expect(await repo.getTicket(ticket.id)).to.include({ first_response_at: at, agent_replied_at: at });
    expect(await repo.getTicket(ticket.id)).to.not.have.property('first_assistant_response_at');
  });

  it("reports the assistant's real answer apart, as first_assistant_response, and never as the first response", async () => {
    const repo = ticketsRepository(h);
    // A greeting alone gets a smart reply: a real answer.
    const ticket = await h.ticket({ message: 'Bonjour' });
    const answer = ticket.body.assistant_message as { created_at: string; type: string };
    expect(answer.type).to.equal('assistant');
    const item = await repo.getTicket(ticket.id);
    expect(item).to.include({ first_assistant_response_at: answer.created_at });
    expect(item?.first_assistant_response_seconds).to.equal(
      Math.round((Date.parse(answer.created_at) - Date.parse(String(item?.created_at))) / 1000),
    );
    expect(item).to.not.have.any.keys('first_response_at', 'first_response_seconds');
  });
});
