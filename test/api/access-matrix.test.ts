/**
 * Every route against every kind of caller: no route answers more than it should. A cell expects either an
 * exact refusal (401, 403, 404) or "allowed": any answer but 401/403 and never a 5xx. Roles rank
 * agent < integration < manager < admin, except that an integration key (a channel bridge) never takes an
 * agent's action (`agentAction`): it reads, and writes only as the customer.
 */
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { deriveKey } from '../../api/auth/secrets.js';
import { ADMIN_KEY, type Harness, SIGNING_KEY, startHarness } from '../support/harness.js';

type Caller =
  | 'none'
  | 'malformed'
  | 'expired'
  | 'customer'
  | 'other_customer'
  | 'agent'
  | 'manager'
  | 'admin'
  | 'api_key'
  | 'integration';
const CALLERS: Caller[] = [
  'none',
  'malformed',
  'expired',
  'customer',
  'other_customer',
  'agent',
  'manager',
  'admin',
  'api_key',
  'integration',
];
type Expect = 'allowed' | 401 | 403 | 404;

interface RouteCase {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  body?: object;
  ifMatch?: boolean;
  access: 'none' | 'ticket_token' | 'agent' | 'integration' | 'manager' | 'admin';
  /** An agent's action (a reply, a change of the ticket): refused to integration keys whatever their rank. */
  agentAction?: true;
}

const ROUTES: RouteCase[] = [
  { method: 'post', path: '/v1/public/tickets', body: { message: 'hello' }, access: 'none' },
  { method: 'get', path: '/v1/public/tickets/:id', access: 'ticket_token' },
  { method: 'get', path: '/v1/public/tickets/:id/messages', access: 'ticket_token' },
  { method: 'post', path: '/v1/public/tickets/:id/messages', body: { content: 'more' }, access: 'ticket_token' },
  { method: 'post', path: '/v1/public/tickets/:id/close', access: 'ticket_token' },
  { method: 'get', path: '/v1/tickets', access: 'agent' },
  { method: 'get', path: '/v1/tickets/:id', access: 'agent' },
  {
    method: 'patch',
    path: '/v1/tickets/:id',
    body: { priority: 'high' },
    ifMatch: true,
    access: 'agent',
    agentAction: true,
  },
  { method: 'get', path: '/v1/tickets/:id/messages', access: 'agent' },
  { method: 'post', path: '/v1/tickets/:id/messages', body: { content: 'reply' }, access: 'agent', agentAction: true },
  {
    method: 'post',
    path: '/v1/tickets/:id/messages',
    body: { content: 'note', internal: true },
    access: 'agent',
    agentAction: true,
  },
  { method: 'post', path: '/v1/tickets/:id/suggest-reply', access: 'agent', agentAction: true },
  {
    method: 'post',
    path: '/v1/tickets/:id/messages',
    body: { from: 'customer', content: 'hi' },
    access: 'integration',
  },
  {
    method: 'post',
    path: '/v1/tickets',
    body: { channel: 'sms', customer: { external_id: 'c-1', phone: '+33612345678' }, message: 'hello' },
    access: 'integration',
  },
  { method: 'get', path: '/v1/events', access: 'agent' },
  { method: 'post', path: '/v1/events/stream-token', access: 'agent', agentAction: true },
  { method: 'get', path: '/v1/tickets/:id/history', access: 'agent' },
  { method: 'get', path: '/v1/tickets/export.csv', access: 'manager' },
  { method: 'get', path: '/v1/analytics/summary', access: 'manager' },
  { method: 'delete', path: '/v1/tickets/:id', access: 'admin' },
  { method: 'get', path: '/v1/auth/me', access: 'agent' },
  { method: 'get', path: '/v1/users', access: 'admin' },
  {
    method: 'patch',
    path: '/v1/users/EMAIL',
    body: { name: 'Renamed' },
    access: 'admin',
  },
  {
    method: 'post',
    path: '/v1/users',
    body: { email: 'EMAIL', name: 'N', role: 'agent', password: 'a long enough passphrase' },
    access: 'admin',
  },
  { method: 'post', path: '/v1/api-keys', body: { name: 'k', role: 'agent' }, access: 'admin' },
  { method: 'post', path: '/v1/api-keys', body: { name: 'k', role: 'integration' }, access: 'admin' },
  { method: 'get', path: '/v1/api-keys', access: 'admin' },
  { method: 'delete', path: '/v1/api-keys/0123456789abcdef', access: 'admin' },
  { method: 'get', path: '/v1/webhooks', access: 'admin' },
  { method: 'post', path: '/v1/webhooks', body: { url: 'http://127.0.0.1:9/hook', events: ['*'] }, access: 'admin' },
];

const RANK = { agent: 1, integration: 2, manager: 3, admin: 4 } as const;

function expected(route: RouteCase, caller: Caller): Expect {
  if (route.access === 'none') return 'allowed';
  if (route.access === 'ticket_token') {
    if (caller === 'none') return 401;
    return caller === 'customer' ? 'allowed' : 404;
  }
  const role = caller === 'api_key' ? 'agent' : caller;
  if (role !== 'agent' && role !== 'integration' && role !== 'manager' && role !== 'admin') return 401;
  if (role === 'integration' && route.agentAction) return 403;
  return RANK[role] >= RANK[route.access] ? 'allowed' : 403;
}

describe('access-control matrix', () => {
  let h: Harness;
  const credentials: Partial<Record<Caller, string>> = {};
  let n = 0;

  before(async function () {
    // Three accounts, each a password hash, a strength check and a login: slow on a busy machine. The first
    // suite of a run also waits for DynamoDB Local's JVM to start.
    this.timeout(120_000);
    h = await startHarness();
    credentials.malformed = 'not-a-credential';
    credentials.expired = await new SignJWT({ role: 'admin', name: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('admin@freeda.test')
      .setIssuer('freeda')
      .setAudience('freeda-api')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(deriveKey(SIGNING_KEY, 'access-token'));
    credentials.agent = (await h.user('agent')).token;
    credentials.manager = (await h.user('manager')).token;
    credentials.admin = (await h.user('admin')).token;
    const key = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ name: 'tool', role: 'agent' });
    credentials.api_key = key.body.api_key;
    const bridge = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({ name: 'bridge', role: 'integration' });
    credentials.integration = bridge.body.api_key;
  });
  after(() => h.close());

  for (const route of ROUTES) {
    for (const caller of CALLERS) {
      const want = expected(route, caller);
      it(`${route.method.toUpperCase()} ${route.path} as ${caller} -> ${want}`, async () => {
        const ticket = await h.ticket();
        const other = await h.ticket();
        const token =
          caller === 'customer' ? ticket.token : caller === 'other_customer' ? other.token : credentials[caller];
        const email = `m${++n}@freeda.test`;
        let req = h.http()[route.method](route.path.replace(':id', ticket.id).replace('EMAIL', email));
        if (token) req = req.set('authorization', `Bearer ${token}`);
        if (route.ifMatch) req = req.set('if-match', '"1"');
        if (route.body) req = req.send(JSON.parse(JSON.stringify(route.body).replace('EMAIL', email)));
        const res = await req;
        expect(res.status).to.be.below(500);
        if (want === 'allowed') expect(res.status, JSON.stringify(res.body)).to.not.be.oneOf([401, 403]);
        else expect(res.status).to.equal(want);
        if (res.status >= 400) expect(res.body.error).to.include.keys('code', 'message', 'request_id');
      });
    }
  }
});
