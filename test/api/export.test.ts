import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { EXPORT_COLUMNS } from '../../api/reports/export.js';
import { type Harness, startHarness } from '../support/harness.js';
import { parseCsv, recordCommands, seed, seedId } from '../support/reports.js';

const BOM = '\uFEFF';

/** supertest gives text/csv bodies as text; rows as objects keyed by the header. */
function rowsOf(text: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(text.startsWith(BOM) ? text.slice(1) : text);
  return rows.map((r) => Object.fromEntries((header ?? []).map((h, i) => [h, r[i] ?? ''])));
}

describe('CSV export (GET /v1/tickets/export.csv)', () => {
  let h: Harness;
  let manager: string;
  const ids = { closed: seedId(), fresh: seedId(), phone: seedId() };
  const injections = ['=1+1', '+1', '-1', '@A1', '\tx', '\rx', '＝1+1', 'safe, "quoted"\nsecond line'];
  const injectionIds = injections.map(() => seedId());

  const get = (query = '', token = manager) =>
    h
      .http()
      .get(`/v1/tickets/export.csv${query}`)
      .set('authorization', `Bearer ${token}`)
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => done(null, text));
      });

  before(async () => {
    h = await startHarness();
    manager = (await h.user('manager')).token;
    await seed(h, [
      {
        id: ids.closed,
        created_at: '2026-03-01T10:00:00.000Z',
        status: 'closed',
        channel: 'email',
        assigned_to: 'agent.smith@freeda.test',
        closed_at: '2026-03-01T12:00:00.000Z',
        resolution_seconds: 7200,
        // Stamped by the service: the agent answered 600 s after creation, 60 of them pending.
        fields: {
          priority: 'high',
          tags: ['billing', 'vip'],
          customer_name: '=HYPERLINK("http://evil.test","Alice")',
          customer_email: 'alice@example.com',
          agent_replied_at: '2026-03-01T10:10:00.000Z',
          first_response_seconds: 540,
          first_assistant_response_at: '2026-03-01T10:00:30.000Z',
          first_assistant_response_seconds: 30,
          pending_seconds: 60,
        },
        analytics: {
          sentiment: 'negative',
          category: 'billing',
          urgency: 'high',
          churn_risk: 85,
          alert: 'urgent_retention',
          summary: 'Facture contestée, "urgent"',
        },
        messages: [
          ['customer', '2026-03-01T10:00:00.000Z'],
          ['assistant', '2026-03-01T10:00:30.000Z'],
          ['customer', '2026-03-01T10:05:00.000Z'],
          ['customer', '2026-03-01T10:06:00.000Z'],
          ['agent', '2026-03-01T10:10:00.000Z'],
          ['internal', '2026-03-01T10:11:00.000Z'],
        ],
      },
      { id: ids.fresh, created_at: '2026-03-02T09:00:00.000Z', messages: [['customer', '2026-03-02T09:00:00.000Z']] },
      {
        id: ids.phone,
        created_at: '2026-03-03T08:00:00.000Z',
        status: 'in_progress',
        channel: 'phone',
        analytics: { churn_risk: 0, summary: 'Ligne coupée' },
        messages: [
          ['customer', '2026-03-03T08:00:00.000Z'],
          ['assistant', '2026-03-03T08:00:02.000Z'],
        ],
      },
      ...injections.map((summary, i) => ({
        id: injectionIds[i] as string,
        created_at: `2026-02-01T00:00:0${i}.000Z`,
        analytics: { summary },
      })),
    ]);
  });
  after(() => h.close());

  it('streams every ticket, newest first, with the documented columns and figures computed from the conversation', async () => {
    const res = await get().expect(200);
    expect(res.headers['content-type']).to.equal('text/csv; charset=utf-8');
    const day = new Date().toISOString().slice(0, 10);
    expect(res.headers['content-disposition']).to.equal(`attachment; filename="tickets-${day}.csv"`);
    expect(res.body.startsWith(BOM)).to.equal(true);
    expect(parseCsv(res.body.slice(1))[0]).to.deep.equal([...EXPORT_COLUMNS]);
    const rows = rowsOf(res.body);
    expect(rows.map((r) => r.ticket_id)).to.deep.equal([
      ids.phone,
      ids.fresh,
      ids.closed,
      ...[...injectionIds].reverse(),
    ]);
    expect(rows[2]).to.deep.equal({
      ticket_id: ids.closed,
      created_at: '2026-03-01T10:00:00.000Z',
      closed_at: '2026-03-01T12:00:00.000Z',
      status: 'closed',
      channel: 'email',
      sentiment: 'negative',
      category: 'billing',
      urgency: 'high',
      summary: 'Facture contestée, "urgent"',
      messages_count: '6',
      resolution_seconds: '7200',
      resolution_hours: '2.00',
      // The stored figure, pending time excluded; the assistant's answer is a column of its own.
      first_response_seconds: '540',
      // Customers 10:00, 10:05 and 10:06 wait together for the agent at 10:10: the assistant is no response.
      avg_response_seconds: '600',
      assigned_to: 'agent.smith@freeda.test',
      churn_risk: '85',
      priority: 'high',
      tags: 'billing;vip',
      // Customer text that a spreadsheet would run is shown instead.
      customer_name: `'=HYPERLINK("http://evil.test","Alice")`,
      customer_email: 'alice@example.com',
      pending_seconds: '60',
      first_assistant_response_seconds: '30',
    });
    expect(rows[1]).to.include({
      status: 'new',
      messages_count: '1',
      first_response_seconds: '',
      sentiment: '',
      priority: 'normal',
      tags: '',
      customer_name: '',
    });
    // Zero is a value, not an empty cell; an assistant's answer alone is no first response.
    expect(rows[0]).to.include({
      churn_risk: '0',
      pending_seconds: '0',
      first_response_seconds: '',
      avg_response_seconds: '',
    });
  });

  it('escapes every cell a spreadsheet would run as a formula, and keeps the text otherwise intact', async () => {
    const res = await get('?created_to=2026-02-28').expect(200);
    const summaries = rowsOf(res.body)
      .reverse()
      .map((r) => r.summary);
    expect(summaries).to.deep.equal([
      "'=1+1",
      "'+1",
      "'-1",
      "'@A1",
      "'\tx",
      "'\rx",
      "'＝1+1",
      'safe, "quoted"\nsecond line',
    ]);
    // No physical line of the file starts with a formula character.
    expect(res.body.split('\r\n').filter((l: string) => /^[=+\-@]/.test(l))).to.deep.equal([]);
  });

  it('applies the list filters: status, channel, assignee and creation range', async () => {
    const idsOf = async (q: string) => rowsOf((await get(q).expect(200)).body).map((r) => r.ticket_id);
    expect(await idsOf('?status=closed')).to.deep.equal([ids.closed]);
    expect(await idsOf('?channel=phone')).to.deep.equal([ids.phone]);
    expect(await idsOf('?assigned_to=Agent.Smith@freeda.test&status=closed')).to.deep.equal([ids.closed]);
    expect(await idsOf('?created_from=2026-03-02&created_to=2026-03-02T23:59:59Z')).to.deep.equal([ids.fresh]);
    expect(await idsOf('?status=closed&channel=chat')).to.deep.equal([]);
  });

  it('omits the byte order mark on request, and refuses list-only or unknown parameters', async () => {
    const plain = await get('?bom=false&status=closed').expect(200);
    expect(plain.body.startsWith('ticket_id,created_at,')).to.equal(true);
    for (const q of [
      '?cursor=abc',
      '?limit=10',
      '?status=open',
      '?bom=yes',
      '?created_from=2026-03-02&created_to=2026-03-01',
    ]) {
      const res = await h
        .http()
        .get(`/v1/tickets/export.csv${q}`)
        .set('authorization', `Bearer ${manager}`)
        .expect(400);
      expect(res.body.error.code, q).to.equal('invalid_request');
    }
  });

  it('is for managers and admins: agents get 403, anonymous callers 401', async () => {
    const agent = (await h.user('agent')).token;
    const admin = (await h.user('admin')).token;
    await h.http().get('/v1/tickets/export.csv').expect(401);
    const denied = await h.http().get('/v1/tickets/export.csv').set('authorization', `Bearer ${agent}`).expect(403);
    expect(denied.body.error.code).to.equal('forbidden');
    await get('', admin).expect(200);
    // Declared before /v1/tickets/{ticket_id}, which agents may read.
    await h.http().get(`/v1/tickets/${ids.closed}`).set('authorization', `Bearer ${agent}`).expect(200);
  });

  it('counts the first message and the replies of tickets opened through the API', async () => {
    const ticket = await h.ticket({ message: 'Ma box clignote', channel: 'sms' });
    const agent = await h.user('agent');
    await h
      .http()
      .post(`/v1/tickets/${ticket.id}/messages`)
      .set('authorization', `Bearer ${agent.token}`)
      .send({ content: 'Je regarde' })
      .expect(201);
    const [row] = rowsOf((await get('?channel=sms').expect(200)).body);
    // Whatever the assistant answered too, the first response is the agent's, as the conversation shows.
    const full = (
      await h.http().get(`/v1/tickets/${ticket.id}`).set('authorization', `Bearer ${agent.token}`).expect(200)
    ).body;
    const firstReply = full.messages.find((m: { type: string }) => m.type === 'agent');
    expect(row).to.include({
      ticket_id: ticket.id,
      status: 'in_progress',
      messages_count: String(full.messages.length),
      first_response_seconds: String(
        Math.round((Date.parse(firstReply.created_at) - Date.parse(full.created_at)) / 1000),
      ),
    });
    expect(full.messages.length).to.be.at.least(2);
  });

  it('documents the route in the OpenAPI document', async () => {
    const doc = (await h.http().get('/openapi.json').expect(200)).body;
    const op = doc.paths['/v1/tickets/export.csv'].get;
    expect(Object.keys(op.responses[200].content)).to.deep.equal(['text/csv']);
    expect(op.parameters.map((p: { name: string }) => p.name)).to.include.members(['status', 'channel', 'bom']);
    expect(op.parameters.map((p: { name: string }) => p.name)).to.not.include('cursor');
  });
});

describe('CSV export of a large range', () => {
  let h: Harness;
  let manager: string;
  const COUNT = 250;

  before(async () => {
    h = await startHarness();
    manager = (await h.user('manager')).token;
    const start = Date.parse('2026-01-01T00:00:00.000Z');
    await seed(
      h,
      Array.from({ length: COUNT }, (_, i) => ({
        id: seedId(),
        created_at: new Date(start + i * 60_000).toISOString(),
        messages: [['customer', new Date(start + i * 60_000).toISOString()]] as Array<['customer', string]>,
      })),
    );
  });
  after(() => h.close());

  it('streams page by page: one index Query per 100 tickets, chunked, nothing buffered whole', async () => {
    const { result: res, commands } = await recordCommands(h, () =>
      h.http().get('/v1/tickets/export.csv').set('authorization', `Bearer ${manager}`).buffer(true).expect(200),
    );
    expect(res.headers['content-length']).to.equal(undefined);
    expect(res.headers['transfer-encoding']).to.equal('chunked');
    const rows = rowsOf(res.text);
    expect(rows).to.have.length(COUNT);
    const created = rows.map((r) => r.created_at as string);
    expect(created).to.deep.equal([...created].sort().reverse());
    const indexQueries = commands.filter((c) => c.name === 'QueryCommand' && c.input.IndexName);
    expect(indexQueries.map((c) => c.input.Limit)).to.deep.equal([100, 100, 100]);
    expect(indexQueries.map((c) => c.input.IndexName)).to.deep.equal(Array(3).fill('all-created_at-index'));
    expect(commands.filter((c) => c.name === 'ScanCommand')).to.deep.equal([]);
  });

  it('answers a clean 503 when the first page fails, before any CSV is sent', async () => {
    const { result: res } = await recordCommands(
      h,
      () => h.http().get('/v1/tickets/export.csv').set('authorization', `Bearer ${manager}`),
      (name, input) => {
        if (name === 'QueryCommand' && input.IndexName)
          throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
      },
    );
    expect(res.status).to.equal(503);
    expect(res.headers['retry-after']).to.equal('2');
    expect(res.body.error.code).to.equal('unavailable');
  });

  it('aborts the download, logged, when a later page fails after the headers went out; the client never hangs', async () => {
    const server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    let indexQueries = 0;
    try {
      const outcome = await recordCommands(
        h,
        () =>
          new Promise<{ status?: number; complete: boolean; bytes: number }>((resolve, reject) => {
            const req = http.get(
              {
                host: '127.0.0.1',
                port: (server.address() as AddressInfo).port,
                path: '/v1/tickets/export.csv',
                headers: { authorization: `Bearer ${manager}` },
              },
              (res) => {
                let bytes = 0;
                res.on('data', (c: Buffer) => {
                  bytes += c.length;
                });
                res.on('error', () => {});
                res.on('close', () => resolve({ status: res.statusCode, complete: res.complete, bytes }));
              },
            );
            req.on('error', reject);
            req.setTimeout(10_000, () => req.destroy(new Error('export hung')));
          }),
        (name, input) => {
          if (name === 'QueryCommand' && input.IndexName && ++indexQueries === 2) throw new Error('disk on fire');
        },
      );
      expect(outcome.result.status).to.equal(200);
      expect(outcome.result.bytes).to.be.above(0);
      expect(outcome.result.complete).to.equal(false);
      expect(h.logs.some((l) => l.includes('export failed after the response started'))).to.equal(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
