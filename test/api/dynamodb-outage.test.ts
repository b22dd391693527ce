/**
 * DynamoDB outages against the real process: the service talks to DynamoDB Local (a process of its own) through a
 * loopback proxy the test cuts. Refused, reset and stalled connections must give a 503 with Retry-After in the
 * JSON error shape (never a hang: every call gives up far beyond the service's own deadlines; never a crash),
 * make readiness fail, and heal by themselves once the endpoint is back: same process, no restart.
 */
import { expect } from 'chai';
import { sharedEngine } from '../support/engine.js';
import { ADMIN_KEY, SIGNING_KEY } from '../support/harness.js';
import { createTables, type LocalEngine, type TableSet } from '../support/local-dynamodb.js';
import { runService, type ServiceProcess } from '../support/process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/** Deadline of one DynamoDB attempt in these tests (the service's DYNAMODB_TIMEOUT_MS). */
const ATTEMPT_MS = 300;
interface Outcome {
  name: string;
  status: number;
  retryAfter: string | null;
  requestId: string | null;
  body: unknown;
}

describe('DynamoDB outage (real process, endpoint behind a proxy the test cuts)', function () {
  this.timeout(120_000);
  let engine: LocalEngine;
  let tables: TableSet;
  let proxy: TcpProxy;
  let service: ServiceProcess;
  let ticket: { id: string; token: string };
  let apiKey: string;
  let seq = 0;

  const call = async (
    name: string,
    path: string,
    init: { method?: string; bearer?: string; body?: unknown } = {},
  ): Promise<Outcome> => {
    const requestId = `outage-${++seq}`;
    const res = await fetch(`${service.url}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        'x-request-id': requestId,
        ...(init.bearer && { authorization: `Bearer ${init.bearer}` }),
        ...(init.body !== undefined && { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      // Far beyond any deadline of the service: if this fires, a request hung.
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // kept as text: the assertion on the shape will say so
    }
    return {
      name,
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      requestId: res.headers.get('x-request-id'),
      body,
    };
  };

  /** One request per kind of DynamoDB use: a read by key, a Query, an index Query, a conditional write, auth. */
  const everyKind = () => [
    call('open a ticket (PutItem)', '/v1/public/tickets', { method: 'POST', body: { message: 'Is anyone there?' } }),
    call('customer reads (Query)', `/v1/public/tickets/${ticket.id}`, { bearer: ticket.token }),
    call('customer writes', `/v1/public/tickets/${ticket.id}/messages`, {
      method: 'POST',
      bearer: ticket.token,
      body: { content: 'Still down?' },
    }),
    call('agent reads (GetItem for the key, then Query)', `/v1/tickets/${ticket.id}`, { bearer: apiKey }),
    call('agent lists (index Query)', '/v1/tickets?status=new', { bearer: ADMIN_KEY }),
    call('agent logs in (GetItem)', '/v1/auth/login', {
      method: 'POST',
      body: { email: 'nobody@freeda.test', password: 'not relevant here' },
    }),
  ];

  before(async () => {
    engine = await sharedEngine();
    tables = await createTables(engine.endpoint);
    proxy = await TcpProxy.start(engine.endpoint);
    service = await runService({
      DYNAMODB_ENDPOINT: proxy.url,
      DYNAMODB_TIMEOUT_MS: String(ATTEMPT_MS),
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      TOKEN_SIGNING_KEY: SIGNING_KEY,
      RATE_LIMIT_TICKETS_PER_HOUR: '100000',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '100000',
      RATE_LIMIT_LOGINS_PER_ACCOUNT: '100000',
      RATE_LIMIT_LOGINS_PER_CLIENT: '100000',
      ...tables.env,
    }).ready;
    const created = await fetch(`${service.url}/v1/public/tickets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'My line is down' }),
    });
    expect(created.status).to.equal(201);
    const body = (await created.json()) as { ticket: { ticket_id: string }; access_token: string };
    ticket = { id: body.ticket.ticket_id, token: body.access_token };
    const key = await fetch(`${service.url}/v1/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ name: 'outage tool', role: 'agent' }),
    });
    expect(key.status).to.equal(201);
    apiKey = ((await key.json()) as { api_key: string }).api_key;
  });

  after(async () => {
    if (service?.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await service.exited;
    }
    await proxy?.close();
  });

  afterEach(async () => {
    await proxy.forward();
  });

  // The stalled endpoint first: the SDK's retry quota is then full, so every call really makes its three
  // attempts (a burst of failures drains the quota, after which calls fail after one).
  const outages: Array<{ name: string; start: () => Promise<void> | void }> = [
    { name: 'accepts connections but never answers', start: () => proxy.stall() },
    { name: 'refuses connections', start: () => proxy.refuse() },
    { name: 'resets every connection', start: () => proxy.reset() },
  ];

  for (const outage of outages) {
    it(`answers 503 with Retry-After, never hanging, while DynamoDB ${outage.name}, then recovers without a restart`, async () => {
      const pid = service.child.pid;
      await outage.start();

      // Readiness fails (the ALB stops routing here); liveness does not (ECS must not kill a healthy process).
      const [ready, live, summary] = await Promise.all([
        call('readiness', '/health/ready'),
        call('liveness', '/health/live'),
        call('summary', '/health'),
      ]);
      expect(ready.status, 'readiness').to.equal(503);
      expect(ready.retryAfter).to.match(/^\d+$/);
      expect(live.status, 'liveness').to.equal(200);
      expect(summary.status).to.equal(200);
      expect((summary.body as { checks: { dynamodb: { status: string } } }).checks.dynamodb.status).to.equal(
        'unavailable',
      );

      // Every kind of request alone, then in a burst that drains the SDK's retry quota: all 503 in time.
      const outcomes = await Promise.all(everyKind());
      outcomes.push(...(await Promise.all(Array.from({ length: 4 }, everyKind).flat())));
      for (const o of outcomes) {
        const what = `${o.name}: ${JSON.stringify(o.body)}`;
        expect(o.status, what).to.equal(503);
        expect(o.retryAfter, what).to.match(/^[1-9]\d*$/);
        expect(o.body, what).to.have.nested.property('error.code').that.is.a('string');
        expect(o.body, what).to.have.nested.property('error.message').that.is.a('string');
        expect((o.body as { error: { request_id: string } }).error.request_id, what).to.equal(o.requestId);
      }
      expect(service.child.exitCode, 'the service is still running').to.equal(null);

      // The endpoint comes back: the same process serves again, with no restart and no manual step.
      await proxy.forward();
      // Readiness is cached for a few seconds; waited for generously, since only its return matters.
      let readyAgain = await call('readiness', '/health/ready');
      for (const giveUpAt = Date.now() + 15_000; readyAgain.status !== 200 && Date.now() < giveUpAt; ) {
        await new Promise((r) => setTimeout(r, 100));
        readyAgain = await call('readiness', '/health/ready');
      }
      expect(readyAgain.status).to.equal(200);
      const back = await Promise.all([
        call('customer reads', `/v1/public/tickets/${ticket.id}`, { bearer: ticket.token }),
        call('agent reads', `/v1/tickets/${ticket.id}`, { bearer: apiKey }),
        call('open a ticket', '/v1/public/tickets', { method: 'POST', body: { message: 'Back again' } }),
      ]);
      expect(back.map((o) => o.status)).to.deep.equal([200, 200, 201]);
      expect(service.child.pid).to.equal(pid);
      expect(service.child.exitCode).to.equal(null);
      expect(service.stderr()).to.not.match(/uncaught|unhandled/i);
    });
  }

  it('leaves no connection hanging after a stall: 30 parallel reads right after it all succeed', async () => {
    await proxy.stall();
    await Promise.all(Array.from({ length: 3 }, everyKind).flat());
    await proxy.forward();
    // After the outage, 30 parallel reads all succeed promptly: no request waits on a socket left stalled.
    const reads = await Promise.all(
      Array.from({ length: 30 }, () => call('agent reads', `/v1/tickets/${ticket.id}`, { bearer: apiKey })),
    );
    expect(reads.map((r) => r.status)).to.deep.equal(Array(30).fill(200));
  });
});
