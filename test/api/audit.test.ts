/**
 * The account audit trail: every account and API key change and every login is stored once, with the right
 * actor, subject and client address and never a secret; the change and its event are one transaction; admins
 * read it newest first, a page at a time; it never reaches the change feed or a live stream; locked-out login
 * attempts cost no audit write; a stream token stops opening streams once its user is deactivated.
 */
import type { Server } from 'node:http';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import supertest from 'supertest';
import { AUDIT_PARTITION } from '../../api/db/tables.js';
import { spyOnCommands } from '../support/dynamo-spy.js';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';
import { listen, type Served, serve } from '../support/sse.js';

const admin = `Bearer ${ADMIN_KEY}`;
const FAST = { EVENTS_LOOKBACK_MS: '1000', EVENTS_POLL_MS: '50' };

interface AuditEvent {
  id: string;
  type: string;
  created_at: string;
  actor: string;
  subject: string;
  client_ip?: string;
  changes?: string[];
}

/** Every stored audit item of a harness, straight from the table. */
async function storedItems(h: Harness): Promise<Record<string, unknown>[]> {
  const out = await h.runtime.dynamo.doc.send(
    new QueryCommand({
      TableName: h.tables.events,
      KeyConditionExpression: 'ticket_id = :p',
      ExpressionAttributeValues: { ':p': AUDIT_PARTITION },
    }),
  );
  return out.Items ?? [];
}

async function eventually(holds: () => Promise<boolean>, limitMs = 15_000): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (await holds()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return holds();
}

describe('account audit trail', function () {
  this.timeout(60_000);
  let h: Harness;
  let served: Served;
  before(async () => {
    h = await startHarness(FAST);
    served = await serve(h);
  });
  after(async () => {
    await served.close();
    await h.close();
  });

  const trailOf = async (subject: string): Promise<AuditEvent[]> => {
    const res = await h
      .http()
      .get('/v1/audit')
      .query({ subject, limit: '100' })
      .set('authorization', admin)
      .expect(200);
    return res.body.events;
  };

  it('records each account, key and login action once, with its actor, subject and address, and no secret', async () => {
    const u = await h.user('agent'); // user.created, auth.login
    await h.http().post('/v1/auth/login').send({ email: u.email, password: 'a wrong guess here' }).expect(401);
    await h.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({ role: 'manager' }).expect(200);
    const again = await h.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const own = 'another long passphrase nobody guesses';
    await h
      .http()
      .post('/v1/auth/password')
      .set('authorization', `Bearer ${again.body.access_token}`)
      .send({ current_password: u.password, new_password: own })
      .expect(204);
    const reset = 'an admin picked this passphrase today';
    await h
      .http()
      .post(`/v1/users/${u.email}/password`)
      .set('authorization', admin)
      .send({ password: reset })
      .expect(204);
    const key = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', admin)
      .send({ name: 'audit', role: 'agent' })
      .expect(201);
    await h.http().delete(`/v1/api-keys/${key.body.key_id}`).set('authorization', admin).expect(204);
    await h.http().delete(`/v1/users/${u.email}`).set('authorization', admin).expect(204);

    const userTrail = (await trailOf(u.email)).reverse(); // oldest first, to read in order
    expect(userTrail.map((e) => e.type)).to.deep.equal([
      'user.created',
      'auth.login',
      'auth.login_failed',
      'user.updated',
      'auth.login',
      'user.updated',
      'user.updated',
      'user.deleted',
    ]);
    const at = (n: number) => userTrail[n] as AuditEvent;
    const [created, login, failed, promoted, ownChange, adminReset, deleted] = [0, 1, 2, 3, 5, 6, 7].map(at) as [
      AuditEvent,
      AuditEvent,
      AuditEvent,
      AuditEvent,
      AuditEvent,
      AuditEvent,
      AuditEvent,
    ];
    expect(created).to.include({ actor: 'bootstrap-admin', subject: u.email });
    expect(login).to.include({ actor: u.email, subject: u.email });
    expect(login.client_ip).to.match(/127\.0\.0\.1/);
    expect(failed).to.include({ actor: u.email, subject: u.email });
    expect(failed.client_ip).to.match(/127\.0\.0\.1/);
    expect(promoted).to.deep.include({ actor: 'bootstrap-admin', changes: ['role'] });
    expect(ownChange).to.deep.include({ actor: u.email, changes: ['password'] });
    expect(adminReset).to.deep.include({ actor: 'bootstrap-admin', changes: ['password'] });
    expect(deleted).to.include({ actor: 'bootstrap-admin', subject: u.email });
    for (const e of userTrail) {
      expect(e.id.startsWith(e.created_at)).to.equal(true);
      expect(Object.keys(e)).to.have.members(
        ['id', 'type', 'created_at', 'actor', 'subject', 'client_ip', 'changes'].filter((k) => k in e),
      );
    }

    const keyTrail = (await trailOf(key.body.key_id)).reverse();
    expect(keyTrail.map((e) => [e.type, e.actor])).to.deep.equal([
      ['api_key.created', 'bootstrap-admin'],
      ['api_key.revoked', 'bootstrap-admin'],
    ]);

    // Neither the API nor the stored items nor the log lines hold a password, a token or a key.
    const secrets = [
      u.password,
      'a wrong guess here',
      own,
      reset,
      u.token,
      again.body.access_token,
      again.body.refresh_token,
      key.body.api_key,
      ADMIN_KEY,
    ];
    const stored = JSON.stringify(await storedItems(h));
    const answered = JSON.stringify([userTrail, keyTrail]);
    const logged = h.logs.join('\n');
    for (const secret of secrets) {
      expect(stored).not.to.include(secret);
      expect(answered).not.to.include(secret);
      expect(logged).not.to.include(secret);
    }
    // The JSON log line is still written, once per event.
    const lines = h.logs.map((l) => JSON.parse(l)).filter((l) => l.audit && l.subject === u.email);
    expect(lines.map((l) => l.audit)).to.deep.equal(userTrail.map((e) => e.type));
  });

  it('writes an account change and its audit event in one transaction, and no event for a refused change', async () => {
    const spy = spyOnCommands(h.runtime.dynamo.client);
    const email = 'one-transaction@freeda.test';
    const body = { email, name: 'One', role: 'agent', password: 'a sturdy passphrase for one' };
    await h.http().post('/v1/users').set('authorization', admin).send(body).expect(201);
    const writes = spy.sent.filter((c) => /Put|Update|Delete|TransactWrite/.test(c.name));
    expect(writes.map((c) => c.name)).to.deep.equal(['TransactWriteItemsCommand']);
    const items = (writes[0]?.input.TransactItems ?? []) as Record<string, { TableName: string }>[];
    expect(items.map((i) => Object.values(i)[0]?.TableName)).to.have.members([h.tables.principals, h.tables.events]);

    // A duplicate (409) and an unknown user (404) change nothing and leave no event.
    await h.http().post('/v1/users').set('authorization', admin).send(body).expect(409);
    await h.http().delete('/v1/users/nobody-here@freeda.test').set('authorization', admin).expect(404);
    await h.http().delete('/v1/api-keys/0123456789abcdef').set('authorization', admin).expect(404);
    expect((await trailOf(email)).map((e) => e.type)).to.deep.equal(['user.created']);
    expect(await trailOf('nobody-here@freeda.test')).to.deep.equal([]);
    expect(await trailOf('0123456789abcdef')).to.deep.equal([]);
  });

  it('is read by admins only', async () => {
    const manager = await h.user('manager');
    const agent = await h.user('agent');
    const boss = await h.user('admin');
    await h.http().get('/v1/audit').set('authorization', `Bearer ${manager.token}`).expect(403);
    await h.http().get('/v1/audit').set('authorization', `Bearer ${agent.token}`).expect(403);
    await h.http().get('/v1/audit').expect(401);
    const res = await h.http().get('/v1/audit').set('authorization', `Bearer ${boss.token}`).expect(200);
    expect(res.body.events.length).to.be.greaterThan(0);
  });

  it('pages newest first with a tamper-proof cursor, filtered by type and actor', async () => {
    const people = [await h.user('agent'), await h.user('agent'), await h.user('agent')];
    const all: AuditEvent[] = [];
    let cursor: string | null = null;
    do {
      const res: supertest.Response = await h
        .http()
        .get('/v1/audit')
        .query({ types: 'user.created', limit: '2', ...(cursor && { after: cursor }) })
        .set('authorization', admin)
        .expect(200);
      expect(res.body.events.length).to.be.at.most(2);
      all.push(...res.body.events);
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(all.every((e) => e.type === 'user.created')).to.equal(true);
    expect(new Set(all.map((e) => e.id)).size).to.equal(all.length);
    const ids = all.map((e) => e.id);
    expect(ids).to.deep.equal([...ids].sort().reverse());
    // The newest three creations are these accounts, newest first.
    expect(all.slice(0, 3).map((e) => e.subject)).to.deep.equal(people.map((p) => p.email).reverse());

    const first = await h.http().get('/v1/audit?limit=1').set('authorization', admin).expect(200);
    const next = first.body.next_cursor as string;
    const [body, mac] = next.split('.') as [string, string];
    const forged = `${Buffer.from(JSON.stringify({ v: 1, q: 'audit:::', k: { ticket_id: '#audit', event_id: 'z' } })).toString('base64url')}.${mac}`;
    for (const bad of [forged, `${body}.${mac.slice(1)}x`, 'garbage']) {
      const res = await h.http().get('/v1/audit').query({ after: bad }).set('authorization', admin).expect(400);
      expect(res.body.error.code).to.equal('invalid_request');
    }
    // A cursor belongs to its query: another filter refuses it.
    await h.http().get('/v1/audit').query({ after: next, types: 'auth.login' }).set('authorization', admin).expect(400);

    const byActor = await h
      .http()
      .get('/v1/audit')
      .query({ actor: people[0]?.email.toUpperCase(), limit: '100' })
      .set('authorization', admin)
      .expect(200);
    expect(byActor.body.events.map((e: AuditEvent) => [e.type, e.subject])).to.deep.equal([
      ['auth.login', people[0]?.email],
    ]);
    for (const query of [{ types: 'ticket.created' }, { limit: '0' }, { limit: '101' }, { sort: 'asc' }]) {
      await h.http().get('/v1/audit').query(query).set('authorization', admin).expect(400);
    }
  });

  it('never reaches the change feed, a live stream, or a ticket-filtered read of the log', async () => {
    const watcher = await h.user('agent');
    const stream = listen(served.base, '/v1/events/stream', watcher.token);
    try {
      await stream.opened();
      // Audit events, then a ticket event written after them.
      const u = await h.user('agent');
      await h.http().post('/v1/auth/login').send({ email: u.email, password: 'not the password at all' }).expect(401);
      await h.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({ name: 'Other' }).expect(200);
      const t = await h.ticket();
      await stream.until((e) => e.ticket_id === t.id && e.type === 'ticket.created');

      const feed: { type: string; ticket_id: string }[] = [];
      const settled = async () => {
        feed.splice(0);
        let after: string | undefined;
        for (let pages = 0; pages < 50; pages++) {
          const res = await h
            .http()
            .get('/v1/events')
            .query({ limit: '100', ...(after && { after }) })
            .set('authorization', `Bearer ${watcher.token}`)
            .expect(200);
          feed.push(...res.body.events);
          after = res.body.next_cursor;
          if (!res.body.has_more) break;
        }
        return feed.some((e) => e.ticket_id === t.id);
      };
      expect(await eventually(settled), 'the ticket reaches the settled feed').to.equal(true);
      const isAudit = (e: { type: string; ticket_id: string }) =>
        /^(user|api_key|auth)\./.test(e.type) || e.ticket_id === AUDIT_PARTITION;
      expect(feed.filter(isAudit)).to.deep.equal([]);
      expect(stream.events.filter(isAudit)).to.deep.equal([]);
      // The audit events exist: they are simply elsewhere.
      expect((await trailOf(u.email)).length).to.equal(4);

      // The feed's ticket filter takes ticket ids only; no ticket's history is the trail.
      const res = await h
        .http()
        .get('/v1/events')
        .query({ ticket_id: AUDIT_PARTITION })
        .set('authorization', `Bearer ${watcher.token}`)
        .expect(400);
      expect(res.body.error.details[0].path).to.equal('query.ticket_id');
      await h
        .http()
        .get(`/v1/tickets/${encodeURIComponent(AUDIT_PARTITION)}/events`)
        .set('authorization', `Bearer ${watcher.token}`)
        .expect(404);
    } finally {
      stream.close();
    }
  });

  it('keeps each event for AUDIT_RETENTION_DAYS (default 365) through the table TTL', async () => {
    const u = await h.user('agent');
    const items = (await storedItems(h)).filter((i) => i.subject === u.email);
    expect(items).to.have.length(2);
    for (const item of items) {
      const created = Math.floor(Date.parse(String(item.created_at)) / 1000);
      expect(item.expires_at).to.equal(created + 365 * 86_400);
      // In no feed bucket: the feed index never holds an audit item.
      expect(item).not.to.have.property('feed_bucket');
    }
  });

  it("stops opening streams with a deactivated user's or a revoked key's stream token", async () => {
    const u = await h.user('agent');
    const token = await h.http().post('/v1/events/stream-token').set('authorization', `Bearer ${u.token}`).expect(200);
    const opens = async (streamToken: string) => {
      const res = await fetch(`${served.base}/v1/events/stream?stream_token=${encodeURIComponent(streamToken)}`);
      await res.body?.cancel();
      return res.status;
    };
    expect(await opens(token.body.token)).to.equal(200);
    await h.http().patch(`/v1/users/${u.email}`).set('authorization', admin).send({ active: false }).expect(200);
    expect(await eventually(async () => (await opens(token.body.token)) === 401)).to.equal(true);

    const key = await h
      .http()
      .post('/v1/api-keys')
      .set('authorization', admin)
      .send({ name: 'stream tool', role: 'agent' })
      .expect(201);
    const keyToken = await h
      .http()
      .post('/v1/events/stream-token')
      .set('authorization', `Bearer ${key.body.api_key}`)
      .expect(200);
    expect(await opens(keyToken.body.token)).to.equal(200);
    await h.http().delete(`/v1/api-keys/${key.body.key_id}`).set('authorization', admin).expect(204);
    expect(await opens(keyToken.body.token)).to.equal(401);
  });
});

describe('account audit trail under a login flood', function () {
  this.timeout(60_000);
  const PER_ACCOUNT = 3;
  let h: Harness;
  let server: Server;
  before(async () => {
    h = await startHarness({
      TRUST_PROXY_HOPS: '1',
      RATE_LIMIT_LOGINS_PER_ACCOUNT: String(PER_ACCOUNT),
      RATE_LIMIT_LOGINS_PER_CLIENT: '1000',
      AUDIT_RETENTION_DAYS: '7',
    });
    server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await h.close();
  });

  it('records only the attempts the throttle lets through: a refused (429) attempt writes no audit item', async () => {
    const u = await h.user('agent');
    const statuses: number[] = [];
    for (let n = 0; n < 30; n++) {
      const res = await supertest(server)
        .post('/v1/auth/login')
        .set('x-forwarded-for', `203.0.113.${n + 1}`)
        .send({ email: u.email, password: `outsider guess ${n}` });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 401)).to.have.length(PER_ACCOUNT);
    expect(statuses.filter((s) => s === 429)).to.have.length(30 - PER_ACCOUNT);
    const items = (await storedItems(h)).filter((i) => i.subject === u.email);
    expect(items.filter((i) => i.type === 'auth.login_failed')).to.have.length(PER_ACCOUNT);
    expect(items.filter((i) => i.type === 'auth.login_failed').map((i) => i.client_ip)).to.have.members([
      '203.0.113.1',
      '203.0.113.2',
      '203.0.113.3',
    ]);
    // AUDIT_RETENTION_DAYS=7.
    for (const item of items) {
      expect(item.expires_at).to.equal(Math.floor(Date.parse(String(item.created_at)) / 1000) + 7 * 86_400);
    }
  });
});
