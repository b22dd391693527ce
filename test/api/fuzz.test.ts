/**
 * Property-based fuzzing of every route the OpenAPI document lists (so routes added later are fuzzed too):
 * path parameters, query strings, headers (Authorization, If-Match, Content-Type, Content-Encoding,
 * x-request-id) and bodies, from well-formed to hostile. Whatever arrives, the service never answers 5xx,
 * never crashes, and every error is in the one JSON error shape carrying the request id.
 *
 * Requests go over a real socket with exact bytes and headers (no client library normalising them). The
 * number of runs is bounded to keep the suite fast; FUZZ_RUNS raises it, FUZZ_SEED replays a failure.
 */
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import fc from 'fast-check';
import { startAssistantHarness } from '../support/assistant.js';
import { ADMIN_KEY, type Harness } from '../support/harness.js';
import { type FakeMistral, startFakeMistral } from '../support/mistral-server.js';

const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 50);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

interface Operation {
  method: string;
  path: string;
  /** Which credential the route takes. */
  access: 'none' | 'ticket_token' | 'staff';
  pathParams: string[];
  query: string[];
  /** Top-level properties of the JSON body, with their enum values when they have some. */
  body?: Record<string, string[] | undefined>;
}

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(port: number, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: r.method,
        path: r.path,
        headers: { ...r.headers, ...(r.body && { 'content-length': String(r.body.length) }) },
      },
      (res) => {
        // An event stream is open-ended by design: its status and headers are its answer.
        if (String(res.headers['content-type']).startsWith('text/event-stream')) {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '' });
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(r.body);
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document as parsed JSON
type Json = any;

function operations(doc: Json): Operation[] {
  const resolve = (schema: Json): Json =>
    schema?.$ref ? doc.components.schemas[String(schema.$ref).split('/').pop() as string] : schema;
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []) as Array<{ in: string; name: string }>;
      const schema = resolve(op.requestBody?.content?.['application/json']?.schema);
      const props = (schema?.properties ?? schema?.allOf?.[0]?.properties) as Record<string, Json> | undefined;
      const security = JSON.stringify(op.security ?? []);
      ops.push({
        method: method.toUpperCase(),
        path,
        access: security.includes('ticketToken') ? 'ticket_token' : security.includes('bearerAuth') ? 'staff' : 'none',
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => p.name),
        body: props
          ? Object.fromEntries(
              Object.entries(props).map(([k, v]) => {
                const s = resolve(v.anyOf?.[0] ?? v);
                return [k, s?.enum as string[] | undefined];
              }),
            )
          : op.requestBody
            ? {}
            : undefined,
      });
    }
  }
  return ops;
}

/** `arb` in `percent` % of the runs, null otherwise. */
const sometimes = <T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: percent, arbitrary: arb }, { weight: 100 - percent, arbitrary: fc.constant(null) });

/** Printable ASCII and Latin-1: everything a header value may carry on the wire. */
const headerText = (maxLength = 60) =>
  fc.string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
      .map((c) => String.fromCharCode(c)),
    maxLength,
  });
/** Text that survives in a URL once percent-encoded, including what breaks naive decoders. */
const urlPiece = fc.oneof(
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '..', '.', '%2F..%2F', '%C0%AE', 'FRE-00000000', '*', '~', "'", '"'),
  fc.constant('A'.repeat(3000)),
);

describe('fuzzing every route (headers, query, body)', function () {
  this.timeout(60_000);
  let fake: FakeMistral;
  let h: Harness;
  let server: Server;
  let port: number;
  let ops: Operation[];
  /** Staff credentials (bootstrap key, agent and admin tokens, an API key) and ticket tokens (by ticket). */
  const staff: string[] = [ADMIN_KEY];
  const ticketTokens: string[] = [];
  const ticketIds: string[] = [];
  let agentEmail = '';
  let cursor = '';

  before(async () => {
    fake = await startFakeMistral();
    h = await startAssistantHarness(fake);
    server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    const agent = await h.user('agent');
    agentEmail = agent.email;
    staff.push(agent.token, (await h.user('admin')).token);
    const key = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ name: 'f', role: 'agent' });
    staff.push(key.body.api_key);
    for (let i = 0; i < 4; i++) {
      const t = await h.ticket();
      ticketIds.push(t.id);
      ticketTokens.push(t.token);
    }
    const page = await h.http().get('/v1/tickets?limit=1').set('authorization', `Bearer ${ADMIN_KEY}`).expect(200);
    cursor = page.body.next_cursor;
    ops = operations((await h.http().get('/openapi.json').expect(200)).body);
  });

  /** Statuses seen per route, printed with FUZZ_STATS=1 to check that fuzzing gets past validation. */
  const seen = new Map<string, Map<number, number>>();
  const record = (route: string, status: number) => {
    const counts = seen.get(route) ?? new Map<number, number>();
    counts.set(status, (counts.get(status) ?? 0) + 1);
    seen.set(route, counts);
  };

  after(async () => {
    await new Promise((r) => server.close(r));
    await h.close();
    await fake.close();
    if (!process.env.FUZZ_STATS) return;
    for (const [route, counts] of seen) {
      const line = [...counts].sort(([a], [b]) => a - b).map(([status, n]) => `${status}x${n}`);
      process.stdout.write(`      ${route}: ${line.join(' ')}\n`);
    }
  });

  /**
   * Valid-looking values for well-known names, so fuzzing also reaches the code behind validation. Most
   * requests name the first ticket (whose token the ticket routes mostly present); deletions go to the last.
   */
  const plausible = (name: string, enumValues?: string[], op?: Operation): fc.Arbitrary<Json> => {
    if (enumValues?.length) return fc.constantFrom(...enumValues);
    switch (name) {
      case 'ticket_id':
        return fc.oneof(
          { weight: 6, arbitrary: fc.constant(op?.method === 'DELETE' ? ticketIds[3] : ticketIds[0]) },
          fc.constantFrom(
            ...(op?.method === 'DELETE' ? ticketIds.slice(1) : ticketIds),
            'FRE-ZZZZZZZZ',
            '0b8e9c1a-1234-4abc-8def-0123456789ab',
          ),
        );
      case 'key_id':
        return fc.constantFrom('0123456789abcdef', 'zzzzzzzzzzzzzzzz');
      case 'email':
      case 'customer_email':
      case 'assigned_to':
        return fc.oneof(fc.constant(agentEmail), fc.emailAddress(), fc.constant(null));
      case 'password':
        return fc.constantFrom('a long enough passphrase', 'short', '');
      case 'created_from':
      case 'created_to':
        return fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.constantFrom('2026-01-01', '2026-13-45', '2026-01-01T00:00:00+02:00', 'yesterday'),
        );
      case 'limit':
        return fc.oneof(fc.integer({ min: -5, max: 500 }).map(String), fc.constantFrom('1e3', '0x10', ' 5'));
      case 'cursor':
        return fc.oneof(
          fc.constant(cursor),
          fc.nat({ max: 60 }).map((n) => `${cursor.slice(0, n)}x${cursor.slice(n + 1)}`),
        );
      case 'tags':
        return fc.array(fc.oneof(fc.constantFrom('vip', 'fibre'), fc.string({ maxLength: 40 })), { maxLength: 25 });
      case 'internal':
      case 'bom':
        return fc.oneof(fc.boolean(), fc.constantFrom('true', 'false', '1', 'yes'));
      default:
        return fc.oneof(fc.constantFrom('Bonjour, ma fibre ne marche plus', 'x'), fc.string({ maxLength: 80 }));
    }
  };

  const authorization = (op: Operation) => {
    const fitting = op.access === 'ticket_token' ? [ticketTokens[0] as string] : staff;
    const all = [...staff, ...ticketTokens];
    return fc.oneof(
      { weight: 24, arbitrary: fc.constantFrom(...fitting).map((c) => `Bearer ${c}`) },
      { weight: 2, arbitrary: fc.constantFrom(...all).map((c) => `Bearer ${c}`) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(...all), fc.nat(), headerText(1))
          .map(([c, i, ch]) => `Bearer ${c.slice(0, i % c.length)}${ch}${c.slice((i % c.length) + 1)}`),
      },
      { weight: 1, arbitrary: headerText(80) },
      { weight: 1, arbitrary: headerText(80).map((t) => `Bearer ${t}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', `Bearer ${'a'.repeat(5000)}`),
      },
      {
        weight: 1,
        arbitrary: fc.string({ maxLength: 30 }).map((s) => `Bearer ${Buffer.from(s).toString('base64url')}.e30.x`),
      },
    );
  };

  const bodyFor = (op: Operation): fc.Arbitrary<Buffer | undefined> => {
    const known = op.body ?? {};
    const keys = Object.keys(known);
    const record = fc
      .tuple(
        fc.oneof(fc.constant(keys), fc.subarray(keys)),
        fc.dictionary(
          fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor')),
          fc.jsonValue({ maxDepth: 2 }),
          {
            maxKeys: 2,
          },
        ),
        fc.nat({ max: 4 }).map((n) => n === 0), // unknown keys in one body out of five
      )
      .chain(([chosen, extra, withExtra]) =>
        fc
          .tuple(
            ...chosen.map((k) =>
              fc.oneof({ weight: 3, arbitrary: plausible(k, known[k]) }, fc.jsonValue({ maxDepth: 2 })),
            ),
          )
          .map((values) => ({
            ...(withExtra ? extra : {}),
            ...Object.fromEntries(chosen.map((k, i) => [k, values[i]])),
          })),
      )
      .map((o) => Buffer.from(JSON.stringify(o)));
    return fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 10, arbitrary: record },
      { weight: 2, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(
            '{"__proto__":{"admin":true},"content":"x"}',
            `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
            JSON.stringify({ message: 'x'.repeat(70_000) }),
            '{"content": "\\ud800"}',
            '\uFEFF{"content":"bom"}',
          )
          .map((s) => Buffer.from(s)),
      },
    );
  };

  const requestFor = (op: Operation): fc.Arbitrary<RawRequest> =>
    fc
      .record({
        params: fc.tuple(
          ...op.pathParams.map((p) =>
            fc.oneof(
              { weight: 5, arbitrary: plausible(p, undefined, op).map((v) => encodeURIComponent(String(v))) },
              urlPiece,
            ),
          ),
        ),
        query: fc.array(
          fc.oneof(
            {
              weight: 4,
              arbitrary: (op.query.length ? fc.constantFrom(...op.query) : fc.constant('q')).chain((k) =>
                fc
                  .oneof({ weight: 2, arbitrary: plausible(k) }, fc.string({ maxLength: 30 }))
                  .map((v) => [k, v === null ? '' : String(v)] as const),
              ),
            },
            fc.tuple(
              fc.constantFrom('__proto__', 'constructor', 'limit[]', 'status[a]', 'x'),
              fc.string({ maxLength: 10 }),
            ),
          ),
          { maxLength: 5 },
        ),
        rawQuery: sometimes(fc.constantFrom('%', 'a=%zz', '&&&', '=', 'limit=1&limit=2', 'a'.repeat(5000)), 10),
        authorization: sometimes(authorization(op), 90),
        ifMatch: sometimes(
          fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom('"1"', 'W/"1"', '"2"') },
            fc.constantFrom('*', '""', '"999999999999999999"', '"-1"', '"1", "2"'),
            headerText(20),
          ),
          op.method === 'PATCH' ? 80 : 10,
        ),
        contentType: sometimes(
          fc.oneof(
            {
              weight: 8,
              arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8'),
            },
            {
              weight: 3,
              arbitrary: fc.constantFrom(
                'application/json; charset=latin1',
                'application/json; charset=utf-16',
                'text/plain',
                'application/x-www-form-urlencoded',
                'application/merge-patch+json',
                'multipart/form-data; boundary=x',
              ),
            },
            headerText(40),
          ),
          85,
        ),
        contentEncoding: sometimes(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'), 8),
        requestId: sometimes(fc.oneof(fc.constantFrom('trace-1', 'a'.repeat(200)), headerText(40)), 30),
        body: bodyFor(op),
      })
      .map((r) => {
        let path = op.path;
        op.pathParams.forEach((p, i) => {
          path = path.replace(`{${p}}`, r.params[i] as string);
        });
        const pairs = r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
        const qs = [...pairs, ...(r.rawQuery ? [r.rawQuery] : [])].join('&');
        const headers: Record<string, string> = {};
        if (r.authorization !== null) headers.authorization = r.authorization;
        if (r.ifMatch !== null) headers['if-match'] = r.ifMatch;
        if (r.contentType !== null) headers['content-type'] = r.contentType;
        if (r.contentEncoding !== null) headers['content-encoding'] = r.contentEncoding;
        if (r.requestId !== null) headers['x-request-id'] = r.requestId;
        return { method: op.method, path: qs ? `${path}?${qs}` : path, headers, body: r.body };
      });

  const checkResponse = (req: RawRequest, res: RawResponse) => {
    const what = `${req.method} ${req.path.slice(0, 200)} ${JSON.stringify(req.headers).slice(0, 300)} -> ${res.status} ${res.text.slice(0, 300)}`;
    expect(res.status, what).to.be.within(200, 499);
    const requestId = res.headers['x-request-id'];
    expect(requestId, what).to.be.a('string').and.not.equal('');
    if (res.status >= 400) {
      expect(String(res.headers['content-type']), what).to.match(/^application\/json/);
      const body = JSON.parse(res.text) as Json;
      expect(body, what).to.have.all.keys('error');
      expect(body.error.code, what).to.be.a('string').and.not.equal('');
      expect(body.error.message, what).to.be.a('string').and.not.equal('');
      expect(body.error.request_id, what).to.equal(requestId);
      expect(res.text, what).to.not.match(/\bat [\w.<>]+ \(|node_modules|\.ts:\d+/);
    }
  };

  it('lists the routes it fuzzes from the OpenAPI document', () => {
    expect(ops.length).to.be.above(15);
    expect(ops.map((o) => `${o.method} ${o.path}`)).to.include.members([
      'POST /v1/public/tickets',
      'PATCH /v1/tickets/{ticket_id}',
      'POST /v1/auth/login',
    ]);
  });

  // One test per route, generated once the document is known: mocha needs them declared up front, so the
  // routes are taken from a first read of the document, and each test fuzzes what the document says now.
  const ROUTES = [
    'GET /health/live',
    'GET /health/ready',
    'GET /health',
    'POST /v1/public/tickets',
    'GET /v1/public/tickets/{ticket_id}',
    'POST /v1/public/tickets/{ticket_id}/messages',
    'POST /v1/public/tickets/{ticket_id}/close',
    'GET /v1/tickets',
    'GET /v1/tickets/{ticket_id}',
    'PATCH /v1/tickets/{ticket_id}',
    'DELETE /v1/tickets/{ticket_id}',
    'POST /v1/tickets/{ticket_id}/messages',
    'GET /v1/tickets/{ticket_id}/history',
    'POST /v1/auth/login',
    'GET /v1/auth/me',
    'POST /v1/users',
    'POST /v1/api-keys',
    'DELETE /v1/api-keys/{key_id}',
  ];

  it('fuzzes routes that exist: each one listed below is in the OpenAPI document (routes not listed are fuzzed together)', () => {
    const documented = ops.map((o) => `${o.method} ${o.path}`);
    expect(
      ROUTES.filter((r) => !documented.includes(r)),
      'listed but gone',
    ).to.deep.equal([]);
  });

  for (const route of ROUTES) {
    it(`${route}: no 5xx, every error in the JSON error shape`, async () => {
      const op = ops.find((o) => `${o.method} ${o.path}` === route) as Operation;
      await fc.assert(
        fc.asyncProperty(requestFor(op), async (req) => {
          const res = await send(port, req);
          record(route, res.status);
          checkResponse(req, res);
        }),
        { numRuns: RUNS_PER_ROUTE, seed: SEED, endOnFailure: true },
      );
    });
  }

  it('every other documented route, and unknown paths and methods: no 5xx, every error in the shape', async () => {
    const others = ops.filter((o) => !ROUTES.includes(`${o.method} ${o.path}`));
    const unknown: Operation[] = [
      { method: 'GET', path: '/v1/{x}', access: 'none', pathParams: ['x'], query: [] },
      {
        method: 'PUT',
        path: '/v1/tickets/{ticket_id}',
        access: 'staff',
        pathParams: ['ticket_id'],
        query: [],
        body: {},
      },
      { method: 'OPTIONS', path: '/v1/tickets', access: 'none', pathParams: [], query: [] },
      { method: 'TRACE', path: '/', access: 'none', pathParams: [], query: [] },
      {
        method: 'GET',
        path: '/v1/tickets/{ticket_id}/{x}',
        access: 'staff',
        pathParams: ['ticket_id', 'x'],
        query: [],
      },
    ];
    const all = [...others, ...unknown];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...all).chain((op) => requestFor(op).map((req) => ({ op, req }))),
        async ({ op, req }) => {
          const res = await send(port, req);
          record(`${op.method} ${op.path}`, res.status);
          checkResponse(req, res);
        },
      ),
      { numRuns: RUNS_PER_ROUTE * Math.max(2, others.length), seed: SEED, endOnFailure: true },
    );
  });

  it('is still alive and ready after all of it', async () => {
    const live = await send(port, { method: 'GET', path: '/health/ready', headers: {} });
    expect(live.status).to.equal(200);
  });
});
