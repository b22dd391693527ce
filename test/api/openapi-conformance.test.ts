/**
 * The OpenAPI document tells the truth: every operation is driven on the real app (success, validation,
 * credentials, not found, preconditions, rate limits, Idempotency-Key replays and refusals, an unavailable
 * table) and every response is checked
 * against the document — status declared, body valid against its schema, declared headers present and valid,
 * no API header undeclared. The suite fails if the app serves a route the document does not list, or the
 * document lists an operation this suite never drove.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import type { Response } from 'supertest';
import { eventually, startAssistantHarness } from '../support/assistant.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';
import { appRoutes, Conformance } from '../support/openapi-conformance.js';

interface Call {
  params?: Record<string, string>;
  query?: Record<string, string>;
  token?: string;
  headers?: Record<string, string>;
  body?: object;
  /** A body sent as is, with this content type. */
  raw?: { type: string; data: string };
}

const BIG = 'x'.repeat(70 * 1024);

describe('OpenAPI document conformance (every route, every response checked against the document)', () => {
  let fake: FakeMistral;
  let h: Harness;
  let doc: Conformance;
  /** operationId -> statuses seen. */
  const driven = new Map<string, Set<number>>();
  let agent: { email: string; token: string };
  let manager: { email: string; token: string };

  before(async function () {
    // The first suite of a run may wait for DynamoDB Local's JVM to start on a busy machine.
    this.timeout(120_000);
    fake = await startFakeMistral();
    h = await startAssistantHarness(fake);
    doc = new Conformance((await h.http().get('/openapi.json').expect(200)).body);
    agent = await h.user('agent');
    manager = await h.user('manager');
  });
  after(async () => {
    await h.close();
    await fake.close();
  });

  /** Sends `call` to the operation's path and method, expects `status`, and checks the answer against the document. */
  async function drive(on: Harness, operationId: string, status: number, call: Call = {}): Promise<Response> {
    const { method, path } = doc.operation(operationId);
    const url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(call.params?.[name] ?? 'missing'));
    const query = call.query ? `?${new URLSearchParams(call.query)}` : '';
    let req = on.http()[method as 'get' | 'post' | 'patch' | 'delete'](url + query);
    if (call.token) req = req.set('authorization', `Bearer ${call.token}`);
    for (const [name, value] of Object.entries(call.headers ?? {})) req = req.set(name, value);
    if (call.raw) req = req.set('content-type', call.raw.type).send(call.raw.data);
    else if (call.body !== undefined) req = req.send(call.body);
    const res = await req;
    expect(res.status, `${operationId} answered ${res.status}: ${res.text.slice(0, 300)}`).to.equal(status);
    doc.conforms(operationId, res);
    const seen = driven.get(operationId) ?? new Set<number>();
    seen.add(status);
    driven.set(operationId, seen);
    return res;
  }
  const call = (operationId: string, status: number, c: Call = {}) => drive(h, operationId, status, c);

  it('health, the document and its reference', async () => {
    await call('getLiveness', 200);
    await call('getReadiness', 200);
    await call('getHealth', 200);
    await call('getOpenApiDocument', 200);
    await call('getApiReference', 200);
    h.runtime.lifecycle.shuttingDown = true;
    try {
      const res = await call('getReadiness', 503);
      expect(res.body.error.details[0].path).to.equal('checks.lifecycle');
      await call('getHealth', 200);
    } finally {
      h.runtime.lifecycle.shuttingDown = false;
    }
  });

  it('public ticket routes', async () => {
    const created = await call('createPublicTicket', 201, {
      body: { message: 'Ma box ne se connecte plus', customer_name: 'Alice', channel: 'whatsapp' },
    });
    expect(created.headers.location).to.equal(`/v1/public/tickets/${created.body.ticket.ticket_id}`);
    expect(created.headers['cache-control']).to.equal('no-store');
    const id = created.body.ticket.ticket_id as string;
    const token = created.body.access_token as string;
    const other = await h.ticket();

    await call('createPublicTicket', 400, { body: { message: '   ' } });
    await call('createPublicTicket', 400, { raw: { type: 'application/json', data: '{"message":' } });
    await call('createPublicTicket', 413, { body: { message: BIG } });
    await call('createPublicTicket', 415, { raw: { type: 'text/plain', data: 'hello' } });

    await call('getPublicTicket', 200, { params: { ticket_id: id }, token });
    await call('getPublicTicket', 401, { params: { ticket_id: id } });
    await call('getPublicTicket', 404, { params: { ticket_id: id }, token: other.token });
    await call('getPublicTicket', 400, { params: { ticket_id: 'not-an-id' }, token });

    await call('addPublicMessage', 201, { params: { ticket_id: id }, token, body: { content: 'Toujours en panne' } });

    const page = await call('listPublicTicketMessages', 200, {
      params: { ticket_id: id },
      token,
      query: { limit: '1' },
    });
    expect(page.body.items).to.have.length(1);
    expect(page.body.next_cursor).to.be.a('string');
    const rest = await call('listPublicTicketMessages', 200, {
      params: { ticket_id: id },
      token,
      query: { cursor: page.body.next_cursor },
    });
    expect(rest.body.items).to.not.be.empty;
    const badPage = await call('listPublicTicketMessages', 400, {
      params: { ticket_id: id },
      token,
      query: { limit: '0' },
    });
    expect(badPage.body.error.details[0].path).to.equal('query.limit');
    await call('listPublicTicketMessages', 401, { params: { ticket_id: id } });
    await call('listPublicTicketMessages', 404, { params: { ticket_id: id }, token: other.token });
    await call('addPublicMessage', 400, { params: { ticket_id: id }, token, body: { content: '' } });
    await call('addPublicMessage', 401, { params: { ticket_id: id }, body: { content: 'x' } });
    await call('addPublicMessage', 404, { params: { ticket_id: id }, token: other.token, body: { content: 'x' } });
    await call('addPublicMessage', 413, { params: { ticket_id: id }, token, body: { content: BIG } });
    await call('addPublicMessage', 415, { params: { ticket_id: id }, token, raw: { type: 'text/plain', data: 'x' } });

    await call('closePublicTicket', 401, { params: { ticket_id: other.id } });
    await call('closePublicTicket', 404, { params: { ticket_id: other.id }, token });
    await call('closePublicTicket', 400, { params: { ticket_id: 'nope' }, token });
    await call('closePublicTicket', 200, { params: { ticket_id: other.id }, token: other.token });
    // Closed longer ago than the reopen window: a new ticket is needed.
    await h.runtime.dynamo.doc.send(
      new UpdateCommand({
        TableName: h.tables.tickets,
        Key: { ticket_id: other.id, sk: 'TICKET' },
        UpdateExpression: 'SET closed_at = :long_ago',
        ExpressionAttributeValues: { ':long_ago': '2020-01-01T00:00:00.000Z' },
      }),
    );
    await call('addPublicMessage', 409, {
      params: { ticket_id: other.id },
      token: other.token,
      body: { content: 'x' },
    });
  });

  it('agent ticket routes', async () => {
    const t = await h.ticket();
    const params = { ticket_id: t.id };
    const token = agent.token;

    await call('listTickets', 200, { token });
    await call('listTickets', 200, { token, query: { status: 'new', channel: 'chat', limit: '2' } });
    await call('listTickets', 200, {
      token,
      query: { created_from: '2026-01-01', created_to: new Date().toISOString(), limit: '100' },
    });
    const bad = await call('listTickets', 400, { token, query: { limit: '0' } });
    expect(bad.body.error.details[0].path).to.equal('query.limit');
    await call('listTickets', 401, {});
    await call('listTickets', 401, { token: 'not-a-credential' });

    const read = await call('getTicket', 200, { params, token });
    expect(read.headers.etag).to.equal(`"${read.body.version}"`);
    await call('getTicket', 400, { params: { ticket_id: 'x' }, token });
    await call('getTicket', 401, { params });
    await call('getTicket', 404, { params: { ticket_id: 'FRE-00000000' }, token });

    const reply = await call('addTicketMessage', 201, { params, token, body: { content: 'On regarde tout de suite' } });
    expect(reply.headers.etag).to.equal(`"${reply.body.ticket.version}"`);
    await call('addTicketMessage', 201, { params, token, body: { content: 'note', internal: true } });

    const page = await call('listTicketMessages', 200, { params, token, query: { limit: '1' } });
    expect(page.body.items).to.have.length(1);
    expect(page.body.next_cursor).to.be.a('string');
    const rest = await call('listTicketMessages', 200, { params, token, query: { cursor: page.body.next_cursor } });
    expect(rest.body.items.some((m: { type: string }) => m.type === 'internal')).to.equal(true);
    const badPage = await call('listTicketMessages', 400, { params, token, query: { limit: 'abc' } });
    expect(badPage.body.error.details[0].path).to.equal('query.limit');
    await call('listTicketMessages', 401, { params });
    await call('listTicketMessages', 404, { params: { ticket_id: 'FRE-00000000' }, token });
    await call('addTicketMessage', 400, { params, token, body: { content: 'x', internal: 'yes' } });
    await call('addTicketMessage', 401, { params, body: { content: 'x' } });
    await call('addTicketMessage', 404, { params: { ticket_id: 'FRE-00000000' }, token, body: { content: 'x' } });
    await call('addTicketMessage', 413, { params, token, body: { content: BIG } });
    await call('addTicketMessage', 415, { params, token, raw: { type: 'text/plain', data: 'x' } });

    const version = Number(reply.body.ticket.version);
    const ifMatch = (v: string) => ({ 'if-match': v });
    await call('updateTicket', 428, { params, token, body: { priority: 'high' } });
    await call('updateTicket', 412, { params, token, headers: ifMatch('"999"'), body: { priority: 'high' } });
    const empty = await call('updateTicket', 400, { params, token, headers: ifMatch(`"${version}"`), body: {} });
    expect(empty.body.error.details[0].path).to.equal('body');
    await call('updateTicket', 403, {
      params,
      token,
      headers: ifMatch(`"${version}"`),
      body: { assigned_to: manager.email },
    });
    await call('updateTicket', 200, {
      params,
      token,
      headers: ifMatch(`"${version}"`),
      body: { priority: 'high', tags: ['fibre', 'vip'] },
    });
    await call('updateTicket', 200, { params, token, headers: ifMatch('*'), body: { status: 'closed' } });
    await call('updateTicket', 401, { params, headers: ifMatch('*'), body: { status: 'new' } });
    await call('updateTicket', 404, {
      params: { ticket_id: 'FRE-00000000' },
      token,
      headers: ifMatch('*'),
      body: { status: 'new' },
    });
    await call('updateTicket', 413, { params, token, headers: ifMatch('*'), body: { tags: [BIG] } });
    await call('updateTicket', 415, { params, token, headers: ifMatch('*'), raw: { type: 'text/plain', data: 'x' } });

    const history = await call('getTicketHistory', 200, { params, token });
    expect(history.body.next_cursor).to.equal(null);
    const tagged = history.body.events.find(
      (e: { type: string; data: { changes?: { tags?: unknown } } }) =>
        e.type === 'ticket.updated' && e.data.changes?.tags,
    );
    expect(tagged.data.changes.tags.after).to.deep.equal(['fibre', 'vip']);
    const firstEvent = await call('getTicketHistory', 200, { params, token, query: { limit: '1' } });
    expect(firstEvent.body.events).to.have.length(1);
    expect(firstEvent.body.events[0].type).to.equal('ticket.created');
    const nextEvents = await call('getTicketHistory', 200, {
      params,
      token,
      query: { cursor: firstEvent.body.next_cursor },
    });
    expect(nextEvents.body.events[0].id).to.equal(history.body.events[1].id);
    await call('getTicketHistory', 400, { params, token, query: { cursor: 'not-a-cursor' } });
    await call('getTicketHistory', 400, { params: { ticket_id: 'x' }, token });
    await call('getTicketHistory', 401, { params });
    await call('getTicketHistory', 404, { params: { ticket_id: 'FRE-00000000' }, token });

    await call('suggestReply', 200, { params, token });
    await call('suggestReply', 400, { params: { ticket_id: 'x' }, token });
    await call('suggestReply', 401, { params });
    await call('suggestReply', 404, { params: { ticket_id: 'FRE-00000000' }, token });

    await call('deleteTicket', 403, { params, token });
    await call('deleteTicket', 401, { params });
    await call('deleteTicket', 400, { params: { ticket_id: 'x' }, token: ADMIN_KEY });
    await call('deleteTicket', 204, { params, token: ADMIN_KEY });
    await call('deleteTicket', 404, { params, token: ADMIN_KEY });
  });

  it('bridge routes: tickets opened for a customer, customer messages through a key', async () => {
    const keyed = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ name: 'WhatsApp bridge', role: 'integration' })
      .expect(201);
    const bridge = keyed.body.api_key as string;
    const wamid = `wamid.${randomUUID()}`;
    const body = {
      channel: 'whatsapp',
      customer: { name: 'Alice', phone: '+33 6 12 34 56 78', external_id: '33612345678' },
      message: 'Ma box ne se connecte plus',
      external_message_id: wamid,
    };
    const created = await call('createCustomerTicket', 201, { token: bridge, body });
    expect(created.headers.location).to.equal(`/v1/tickets/${created.body.ticket.ticket_id}`);
    const repeated = await call('createCustomerTicket', 201, { token: bridge, body });
    expect(repeated.headers['idempotent-replayed']).to.equal('true');
    await call('createCustomerTicket', 400, { token: bridge, body: { ...body, customer: { name: 'no id' } } });
    await call('createCustomerTicket', 401, { body });
    await call('createCustomerTicket', 403, { token: agent.token, body });
    await call('createCustomerTicket', 413, { token: bridge, body: { ...body, message: BIG } });
    await call('createCustomerTicket', 415, { token: bridge, raw: { type: 'text/plain', data: 'x' } });

    const params = { ticket_id: created.body.ticket.ticket_id as string };
    const message = { from: 'customer', content: 'Toujours en panne', external_message_id: `${wamid}.2` };
    const written = await call('addTicketMessage', 201, { params, token: bridge, body: message });
    expect(written.body.message.type).to.equal('customer');
    expect(written.headers.etag).to.equal(`"${written.body.ticket.version}"`);
    const again = await call('addTicketMessage', 201, { params, token: bridge, body: message });
    expect(again.headers['idempotent-replayed']).to.equal('true');
    await call('addTicketMessage', 403, { params, token: bridge, body: { content: 'as an agent' } });
    await call('addTicketMessage', 403, { params, token: agent.token, body: { from: 'customer', content: 'forged' } });
    await call('addTicketMessage', 400, { params, token: bridge, body: { from: 'robot', content: 'x' } });
    const other = await call('createCustomerTicket', 201, {
      token: bridge,
      body: { ...body, external_message_id: `${wamid}.3` },
    });
    await call('addTicketMessage', 409, {
      params: { ticket_id: other.body.ticket.ticket_id },
      token: bridge,
      body: { ...message },
    });
    await call('createCustomerTicket', 409, {
      token: bridge,
      body: { ...body, external_message_id: message.external_message_id },
    });
  });

  it('the change feed', async () => {
    const token = agent.token;
    const page = await call('listEvents', 200, { token, query: { limit: '5' } });
    expect(page.body.next_cursor).to.be.a('string');
    await call('listEvents', 200, { token, query: { after: page.body.next_cursor, limit: '5' } });
    await call('listEvents', 200, { token, query: { types: 'ticket.created,message.created' } });
    const bad = await call('listEvents', 400, { token, query: { types: 'ticket.exploded' } });
    expect(bad.body.error.details[0].path).to.match(/^query\.types/);
    await call('listEvents', 401, {});
  });

  it('the live streams (each ended by its instance stopping, as a shutdown ends them)', async () => {
    const t = await h.ticket();
    await call('streamEvents', 400, { token: agent.token, query: { types: 'nope' } });
    await call('streamEvents', 401, {});
    await call('streamPublicTicketEvents', 401, { params: { ticket_id: t.id } });
    await call('streamPublicTicketEvents', 404, { params: { ticket_id: 'FRE-00000000' }, token: t.token });
    await call('streamPublicTicketEvents', 400, { params: { ticket_id: t.id }, token: t.token, query: { x: '1' } });
    await call('createEventStreamToken', 200, { token: agent.token });
    await call('createEventStreamToken', 401, {});
    await call('createPublicTicketStreamToken', 200, { params: { ticket_id: t.id }, token: t.token });
    await call('createPublicTicketStreamToken', 400, { params: { ticket_id: 'x' }, token: t.token });
    await call('createPublicTicketStreamToken', 401, { params: { ticket_id: t.id } });
    await call('createPublicTicketStreamToken', 404, { params: { ticket_id: 'FRE-00000000' }, token: t.token });
    const other = await startHarness({}, h.tables);
    try {
      const agentStream = drive(other, 'streamEvents', 200, { token: ADMIN_KEY, query: { ticket_id: t.id } });
      const customerStream = drive(other, 'streamPublicTicketEvents', 200, {
        params: { ticket_id: t.id },
        token: t.token,
      });
      while (other.runtime.hub.size < 2) await new Promise((r) => setTimeout(r, 20));
      await other.runtime.hub.close();
      const [a, c] = await Promise.all([agentStream, customerStream]);
      expect(a.headers['content-type']).to.match(/^text\/event-stream/);
      expect(c.headers['content-type']).to.match(/^text\/event-stream/);
    } finally {
      await other.close();
    }
  });

  it('webhooks', async () => {
    const token = ADMIN_KEY;
    const body = { url: 'http://127.0.0.1:9/hook', events: ['ticket.created'], description: 'Conformance' };
    const created = await call('createWebhook', 201, { token, body });
    expect(created.body.secret).to.match(/^whsec_/);
    const params = { webhook_id: created.body.webhook_id as string };
    const missing = { webhook_id: 'wh_0000000000000000' };
    await call('createWebhook', 400, { token, body: { ...body, events: [] } });
    await call('createWebhook', 401, { body });
    await call('createWebhook', 403, { token: agent.token, body });
    await call('createWebhook', 413, { token, body: { ...body, description: BIG } });
    await call('createWebhook', 415, { token, raw: { type: 'text/plain', data: 'x' } });

    await call('listWebhooks', 200, { token });
    await call('listWebhooks', 401, {});
    await call('listWebhooks', 403, { token: manager.token });
    await call('getWebhook', 200, { params, token });
    await call('getWebhook', 400, { params: { webhook_id: 'nope' }, token });
    await call('getWebhook', 404, { params: missing, token });
    await call('getWebhook', 401, { params });
    await call('getWebhook', 403, { params, token: agent.token });
    await call('updateWebhook', 200, { params, token, body: { events: ['*'], include_internal: true } });
    await call('updateWebhook', 400, { params, token, body: {} });
    await call('updateWebhook', 404, { params: missing, token, body: { enabled: false } });
    await call('updateWebhook', 413, { params, token, body: { description: BIG } });
    await call('updateWebhook', 415, { params, token, raw: { type: 'text/plain', data: 'x' } });
    await call('rotateWebhookSecret', 200, { params, token });
    await call('rotateWebhookSecret', 404, { params: missing, token });

    // The delivery to a closed port fails at once and waits for its retry: listed, and sent again on request.
    const t = await h.ticket();
    const delivery = await eventually('an attempted delivery', async () => {
      const res = await call('listWebhookDeliveries', 200, { params, token });
      return res.body.deliveries.find(
        (d: { ticket_id: string; attempts: number }) => d.ticket_id === t.id && d.attempts >= 1,
      );
    });
    expect(delivery.error).to.be.a('string');
    await call('listWebhookDeliveries', 200, { params, token, query: { limit: '1' } });
    await call('listWebhookDeliveries', 400, { params, token, query: { limit: '0' } });
    await call('listWebhookDeliveries', 404, { params: missing, token });
    const again = await call('redeliverWebhookDelivery', 200, {
      params: { ...params, delivery_id: delivery.delivery_id },
      token,
    });
    expect(again.body.state).to.equal('pending');
    await call('redeliverWebhookDelivery', 404, { params: { ...params, delivery_id: 'bm9uZQ' }, token });
    await call('redeliverWebhookDelivery', 400, { params: { ...params, delivery_id: 'a b' }, token });

    await call('deleteWebhook', 204, { params, token });
    await call('deleteWebhook', 404, { params, token });
    await call('deleteWebhook', 401, { params });
  });

  it('reports', async () => {
    const csv = await call('exportTickets', 200, { token: manager.token, query: { status: 'new', bom: 'false' } });
    expect(csv.text.split('\r\n')[0]).to.match(/^ticket_id,/);
    await call('exportTickets', 400, { token: manager.token, query: { bom: 'maybe' } });
    await call('exportTickets', 401, {});
    await call('exportTickets', 403, { token: agent.token });

    await call('getAnalyticsSummary', 200, { token: manager.token });
    await call('getAnalyticsSummary', 400, {
      token: manager.token,
      query: { created_from: '2026-02-01', created_to: '2026-01-01' },
    });
    await call('getAnalyticsSummary', 401, {});
    await call('getAnalyticsSummary', 403, { token: agent.token });
  });

  it('accounts, API keys and login', async () => {
    const email = `conformance-${Date.now()}@freeda.test`;
    const password = 'a long enough passphrase';
    await call('createUser', 201, { token: ADMIN_KEY, body: { email, name: 'Conf', role: 'agent', password } });
    await call('createUser', 409, { token: ADMIN_KEY, body: { email, name: 'Conf', role: 'agent', password } });
    await call('createUser', 400, { token: ADMIN_KEY, body: { email: 'nope', name: ' ', role: 'chief', password } });
    await call('createUser', 401, { body: { email, name: 'Conf', role: 'agent', password } });
    await call('createUser', 403, { token: agent.token, body: { email, name: 'Conf', role: 'agent', password } });
    await call('createUser', 413, { token: ADMIN_KEY, body: { email, name: BIG, role: 'agent', password } });
    await call('createUser', 415, { token: ADMIN_KEY, raw: { type: 'text/plain', data: 'x' } });

    const login = await call('login', 200, { body: { email, password } });
    expect(login.headers['cache-control']).to.equal('no-store');
    await call('login', 401, { body: { email, password: 'wrong but long enough' } });
    await call('login', 400, { body: { email } });
    await call('login', 413, { body: { email, password: BIG } });
    await call('login', 415, { raw: { type: 'text/plain', data: 'x' } });

    await call('getMe', 200, { token: login.body.access_token });
    await call('getMe', 401, {});

    const key = await call('createApiKey', 201, { token: ADMIN_KEY, body: { name: 'CRM sync', role: 'agent' } });
    expect(key.headers['cache-control']).to.equal('no-store');
    await call('getMe', 200, { token: key.body.api_key });
    await call('createApiKey', 400, { token: ADMIN_KEY, body: { name: '  ', role: 'agent' } });
    await call('createApiKey', 401, { body: { name: 'k', role: 'agent' } });
    await call('createApiKey', 403, { token: agent.token, body: { name: 'k', role: 'agent' } });
    await call('createApiKey', 413, { token: ADMIN_KEY, body: { name: BIG, role: 'agent' } });
    await call('createApiKey', 415, { token: ADMIN_KEY, raw: { type: 'text/plain', data: 'x' } });

    const keyId = { key_id: key.body.key_id as string };
    await call('revokeApiKey', 403, { params: keyId, token: agent.token });
    await call('revokeApiKey', 401, { params: keyId });
    await call('revokeApiKey', 400, { params: { key_id: 'x' }, token: ADMIN_KEY });
    await call('revokeApiKey', 204, { params: keyId, token: ADMIN_KEY });
    await call('revokeApiKey', 404, { params: keyId, token: ADMIN_KEY });

    await call('listApiKeys', 200, { token: ADMIN_KEY });
    await call('listApiKeys', 401, {});
    await call('listApiKeys', 403, { token: agent.token });
  });

  it('users and sessions', async () => {
    const email = `sessions-${Date.now()}@freeda.test`;
    const password = 'a long enough passphrase';
    const params = { email };
    await call('createUser', 201, { token: ADMIN_KEY, body: { email, name: 'S', role: 'agent', password } });

    await call('listUsers', 200, { token: ADMIN_KEY });
    await call('listUsers', 401, {});
    await call('listUsers', 403, { token: agent.token });
    await call('getUser', 200, { params, token: ADMIN_KEY });
    await call('getUser', 404, { params: { email: 'nobody@freeda.test' }, token: ADMIN_KEY });
    await call('getUser', 400, { params: { email: 'not-an-email' }, token: ADMIN_KEY });
    await call('getUser', 403, { params, token: manager.token });
    await call('updateUser', 200, { params, token: ADMIN_KEY, body: { name: 'Sessions' } });
    await call('updateUser', 400, { params, token: ADMIN_KEY, body: { role: 'chief' } });
    await call('updateUser', 404, { params: { email: 'nobody@freeda.test' }, token: ADMIN_KEY, body: { name: 'N' } });
    await call('updateUser', 415, { params, token: ADMIN_KEY, raw: { type: 'text/plain', data: 'x' } });

    const login = await call('login', 200, { body: { email, password } });
    const refreshed = await call('refreshSession', 200, { body: { refresh_token: login.body.refresh_token } });
    await call('refreshSession', 401, { body: { refresh_token: login.body.refresh_token } });
    await call('refreshSession', 400, { body: {} });
    const fresh = await call('login', 200, { body: { email, password } });

    const change = { current_password: password, new_password: 'another long passphrase' };
    await call('changeOwnPassword', 400, {
      token: fresh.body.access_token,
      body: { ...change, current_password: 'no' },
    });
    await call('changeOwnPassword', 401, { body: change });
    await call('changeOwnPassword', 403, { token: ADMIN_KEY, body: change });
    await call('changeOwnPassword', 204, { token: fresh.body.access_token, body: change });
    await call('logout', 204, { token: fresh.body.access_token });
    await call('logout', 401, { token: fresh.body.access_token });
    await call('logout', 400, { token: ADMIN_KEY });
    // The password change ended the first session.
    await call('getMe', 401, { token: refreshed.body.access_token });

    await call('resetUserPassword', 204, { params, token: ADMIN_KEY, body: { password: 'a third long passphrase' } });
    await call('resetUserPassword', 400, { params, token: ADMIN_KEY, body: { password: 'short' } });
    await call('resetUserPassword', 404, {
      params: { email: 'nobody@freeda.test' },
      token: ADMIN_KEY,
      body: { password: 'a third long passphrase' },
    });

    const boss = await h.user('admin');
    await call('updateUser', 409, { params: { email: boss.email }, token: boss.token, body: { active: false } });
    await call('deleteUser', 409, { params: { email: boss.email }, token: boss.token });
    await call('deleteUser', 204, { params, token: ADMIN_KEY });
    await call('deleteUser', 404, { params, token: ADMIN_KEY });
    await call('deleteUser', 401, { params });
  });

  it('canned responses, and a message sent as one', async () => {
    const body = { shortcut: `conf-${Date.now()}`, title: 'Conformance', content: 'Hello {{customer.name}}' };
    const made = await call('createCannedResponse', 201, { token: manager.token, body });
    await call('createCannedResponse', 409, { token: manager.token, body });
    await call('createCannedResponse', 400, { token: manager.token, body: { ...body, shortcut: 'no spaces' } });
    await call('createCannedResponse', 401, { body });
    await call('createCannedResponse', 403, { token: agent.token, body });
    await call('createCannedResponse', 413, { token: manager.token, body: { ...body, content: BIG } });
    await call('createCannedResponse', 415, { token: manager.token, raw: { type: 'text/plain', data: 'x' } });

    const page = await call('listCannedResponses', 200, { token: agent.token, query: { prefix: 'conf', limit: '1' } });
    expect(page.body.items).to.have.length(1);
    await call('listCannedResponses', 400, { token: agent.token, query: { limit: '0' } });
    await call('listCannedResponses', 401, {});

    const params = { id: made.body.id as string };
    await call('getCannedResponse', 200, { params, token: agent.token });
    await call('getCannedResponse', 404, { params: { id: 'cr_0000000000000000' }, token: agent.token });
    await call('getCannedResponse', 400, { params: { id: 'x'.repeat(65) }, token: agent.token });
    await call('getCannedResponse', 401, { params });

    const t = await h.ticket();
    const sent = await call('addTicketMessage', 201, {
      params: { ticket_id: t.id },
      token: agent.token,
      body: { canned_response_id: params.id },
    });
    expect(sent.body.message.content).to.equal('Hello Alice');
    await call('addTicketMessage', 400, {
      params: { ticket_id: t.id },
      token: agent.token,
      body: { canned_response_id: 'cr_0000000000000000' },
    });

    const other = await call('createCannedResponse', 201, {
      token: manager.token,
      body: { ...body, shortcut: `${body.shortcut}-b` },
    });
    await call('updateCannedResponse', 200, { params, token: manager.token, body: { title: 'Changed' } });
    await call('updateCannedResponse', 409, { params, token: manager.token, body: { shortcut: other.body.shortcut } });
    await call('updateCannedResponse', 400, { params, token: manager.token, body: {} });
    await call('updateCannedResponse', 401, { params, body: { title: 'x' } });
    await call('updateCannedResponse', 403, { params, token: agent.token, body: { title: 'x' } });
    await call('updateCannedResponse', 413, { params, token: manager.token, body: { content: BIG } });
    await call('updateCannedResponse', 415, { params, token: manager.token, raw: { type: 'text/plain', data: 'x' } });
    await call('deleteCannedResponse', 403, { params, token: agent.token });
    await call('deleteCannedResponse', 401, { params });
    await call('deleteCannedResponse', 400, { params: { id: 'x'.repeat(65) }, token: manager.token });
    await call('deleteCannedResponse', 204, { params, token: manager.token });
    await call('deleteCannedResponse', 404, { params, token: manager.token });
    await call('updateCannedResponse', 404, { params, token: manager.token, body: { title: 'x' } });
  });

  it('the account audit trail', async () => {
    const page = await call('listAuditEvents', 200, { token: ADMIN_KEY, query: { limit: '2' } });
    expect(page.body.events.length).to.be.greaterThan(0);
    await call('listAuditEvents', 200, { token: ADMIN_KEY, query: { after: page.body.next_cursor, limit: '2' } });
    await call('listAuditEvents', 200, {
      token: ADMIN_KEY,
      query: { types: 'user.created,auth.login', actor: 'bootstrap-admin', subject: agent.email },
    });
    await call('listAuditEvents', 400, { token: ADMIN_KEY, query: { types: 'ticket.created' } });
    await call('listAuditEvents', 400, { token: ADMIN_KEY, query: { after: 'forged.cursor' } });
    await call('listAuditEvents', 401, {});
    await call('listAuditEvents', 403, { token: manager.token });
  });

  it('Idempotency-Key: on every creation route a replay marked Idempotent-Replayed, and a reused key (422)', async () => {
    const t = await h.ticket();
    const email = `replayed-${Date.now()}@freeda.test`;
    const user = { email, name: 'Replayed', role: 'agent', password: 'a long enough passphrase' };
    const routes: Array<[string, Call, object]> = [
      ['createPublicTicket', { body: { message: 'Plus de tonalité' } }, { message: 'Autre chose' }],
      [
        'addPublicMessage',
        { params: { ticket_id: t.id }, token: t.token, body: { content: 'Toujours rien' } },
        { content: 'Autre chose' },
      ],
      [
        'addTicketMessage',
        { params: { ticket_id: t.id }, token: agent.token, body: { content: 'On regarde' } },
        { content: 'Autre chose' },
      ],
      [
        'createCustomerTicket',
        {
          token: ADMIN_KEY,
          body: { channel: 'sms', customer: { external_id: `sms-${randomUUID()}` }, message: 'Plus de réseau' },
        },
        { channel: 'sms', customer: { external_id: 'someone else' }, message: 'Autre chose' },
      ],
      ['createUser', { token: ADMIN_KEY, body: user }, { ...user, name: 'Someone else' }],
      [
        'createWebhook',
        { token: ADMIN_KEY, body: { url: 'http://127.0.0.1:9/replayed', events: ['*'] } },
        { url: 'http://127.0.0.1:9/other', events: ['*'] },
      ],
      [
        'createApiKey',
        { token: ADMIN_KEY, body: { name: 'Replayed', role: 'agent' } },
        { name: 'Other', role: 'agent' },
      ],
    ];
    for (const [operationId, c, otherBody] of routes) {
      const headers = { 'idempotency-key': randomUUID() };
      const first = await call(operationId, 201, { ...c, headers });
      expect(first.headers, operationId).to.not.have.property('idempotent-replayed');
      const replay = await call(operationId, 201, { ...c, headers });
      expect(replay.headers['idempotent-replayed'], operationId).to.equal('true');
      expect(replay.text, operationId).to.equal(first.text);
      const reused = await call(operationId, 422, { ...c, headers, body: otherBody });
      expect(reused.body.error.code, operationId).to.equal('idempotency_key_reused');
      const malformed = await call(operationId, 400, { ...c, headers: { 'idempotency-key': 'k'.repeat(256) } });
      expect(malformed.body.error.details[0].path, operationId).to.equal('headers.idempotency-key');
    }
  });

  it('Idempotency-Key: a repeat while the first request runs is a 409 with Retry-After', async () => {
    // The assistant's reply is part of opening a ticket: holding it keeps the first request in flight.
    const slow = await startAssistantHarness(fake, {
      ASSISTANT_REPLY_TIMEOUT_MS: '30000',
      MISTRAL_TIMEOUT_MS: '30000',
    });
    let release = () => {};
    try {
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      fake.next('reply', { until: held, answer: { content: 'Redémarrez votre box.\n--\nAgent Free' } });
      const replies = fake.calls('reply').length;
      const keyed = { headers: { 'idempotency-key': randomUUID() }, body: { message: 'Coupures tous les soirs' } };
      const first = drive(slow, 'createPublicTicket', 201, keyed);
      await eventually('the first request reaches the assistant', () => fake.calls('reply').length > replies);
      const during = await drive(slow, 'createPublicTicket', 409, keyed);
      expect(during.body.error.code).to.equal('idempotency_request_in_progress');
      expect(during.headers['retry-after']).to.equal('1');
      release();
      await first;
      await drive(slow, 'createPublicTicket', 201, keyed);
    } finally {
      release();
      await slow.close();
    }
  });

  it('rate limits: 429 with Retry-After and the RateLimit headers, which successes carry too', async () => {
    const limited = await startHarness({
      RATE_LIMIT_TICKETS_PER_HOUR: '1',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '1',
      RATE_LIMIT_LOGINS_PER_ACCOUNT: '1',
      RATE_LIMIT_INTEGRATION_TICKETS_PER_HOUR: '1',
      RATE_LIMIT_INTEGRATION_MESSAGES_PER_MINUTE: '1',
    });
    try {
      const opening = { channel: 'sms', customer: { external_id: 'limited' }, message: 'first' };
      const bridged = await drive(limited, 'createCustomerTicket', 201, { token: ADMIN_KEY, body: opening });
      expect(bridged.headers).to.include.keys('ratelimit', 'ratelimit-policy');
      await drive(limited, 'createCustomerTicket', 429, { token: ADMIN_KEY, body: opening });
      const onBridged = { ticket_id: bridged.body.ticket.ticket_id };
      const asCustomer = { from: 'customer', content: 'encore' };
      await drive(limited, 'addTicketMessage', 201, { params: onBridged, token: ADMIN_KEY, body: asCustomer });
      await drive(limited, 'addTicketMessage', 429, { params: onBridged, token: ADMIN_KEY, body: asCustomer });

      const first = await drive(limited, 'createPublicTicket', 201, { body: { message: 'first' } });
      expect(first.headers).to.include.keys('ratelimit', 'ratelimit-policy');
      await drive(limited, 'createPublicTicket', 429, { body: { message: 'second' } });

      const params = { ticket_id: first.body.ticket.ticket_id };
      const token = first.body.access_token;
      const message = await drive(limited, 'addPublicMessage', 201, { params, token, body: { content: 'a' } });
      expect(message.headers).to.include.keys('ratelimit', 'ratelimit-policy');
      await drive(limited, 'addPublicMessage', 429, { params, token, body: { content: 'b' } });

      const email = 'limited@freeda.test';
      const password = 'a long enough passphrase';
      await limited
        .http()
        .post('/v1/users')
        .set('authorization', `Bearer ${ADMIN_KEY}`)
        .send({ email, name: 'L', role: 'agent', password })
        .expect(201);
      const login = await drive(limited, 'login', 200, { body: { email, password } });
      expect(login.headers).to.include.keys('ratelimit', 'ratelimit-policy');
      // Only failures use up the quota.
      await drive(limited, 'login', 200, { body: { email, password } });
      await drive(limited, 'login', 401, { body: { email, password: 'not the password at all' } });
      await drive(limited, 'login', 429, { body: { email, password } });
    } finally {
      await limited.close();
    }
  });

  it('a table that does not answer: 503 with Retry-After', async () => {
    const down = await startHarness();
    try {
      await down.runtime.dynamo.client.send(new DeleteTableCommand({ TableName: down.tables.tickets }));
      await drive(down, 'listTickets', 503, { token: ADMIN_KEY });
      await drive(down, 'getTicket', 503, { params: { ticket_id: 'FRE-00000000' }, token: ADMIN_KEY });
      await drive(down, 'createPublicTicket', 503, { body: { message: 'anyone there?' } });
      await drive(down, 'getReadiness', 503);
      await drive(down, 'getHealth', 200);
    } finally {
      await down.close();
    }
  });

  it('a method a path does not support: 405 with Allow, in the error shape; OPTIONS: 204 with Allow', async () => {
    const byPath = new Map<string, string[]>();
    for (const { method, path } of doc.operations.values()) {
      byPath.set(path, [...(byPath.get(path) ?? []), method.toUpperCase()]);
    }
    for (const [path, methods] of byPath) {
      const url = path
        .replace(/\{ticket_id\}/, 'FRE-00000000')
        .replace(/\{key_id\}/, '0123456789abcdef')
        .replace(/\{email\}/, 'nobody@freeda.test')
        .replace(/\{webhook_id\}/, 'wh_0000000000000000')
        .replace(/\{delivery_id\}/, 'bm9uZQ');
      const expected = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].sort();
      const unsupported = ['PUT', 'PATCH', 'POST', 'DELETE'].find((m) => !methods.includes(m)) ?? 'PUT';
      const res = await h
        .http()
        [unsupported.toLowerCase() as 'put'](url)
        .set('authorization', `Bearer ${ADMIN_KEY}`)
        .send({ any: 'body' });
      expect(res.status, `${unsupported} ${url}`).to.equal(405);
      expect(res.headers.allow?.split(', ').sort(), `Allow of ${path}`).to.deep.equal(expected);
      expect(res.body.error).to.include({ code: 'method_not_allowed', request_id: res.headers['x-request-id'] });
      const options = await h.http().options(url);
      expect(options.status, `OPTIONS ${url}`).to.equal(204);
      expect(options.headers.allow?.split(', ').sort()).to.deep.equal(expected);
    }
  });

  it('drove every operation of the document, and the document lists every route the app serves', () => {
    const documented = [...doc.operations.values()].map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
    expect([...new Set(appRoutes(h.app))].sort(), 'routes served vs documented').to.deep.equal(documented);
    const undriven = [...doc.operations.keys()].filter((id) => !driven.has(id));
    expect(undriven, 'operations this suite never drove').to.deep.equal([]);
    for (const { operationId, op } of doc.operations.values()) {
      const success = Object.keys(op.responses).filter((s) => s.startsWith('2'));
      expect(
        success.some((s) => driven.get(operationId)?.has(Number(s))),
        `${operationId}: its success was never seen`,
      ).to.equal(true);
    }
  });
});
