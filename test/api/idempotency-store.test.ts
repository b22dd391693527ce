/**
 * The idempotency records on a real table, with a clock the test moves: leases that run out, retention, a
 * rotated signing key. (The HTTP behaviour is in idempotency.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { deriveKey } from '../../api/auth/secrets.js';
import { createDynamoClients, type DynamoClients } from '../../api/db/client.js';
import { IdempotencyStore } from '../../api/db/idempotency-store.js';
import { ensureTables } from '../../api/db/schema.js';
import { sharedEngine, uniqueTableNames } from '../support/engine.js';

const keysFrom = (secret: string) => ({
  mac: deriveKey(secret, 'idempotency-mac'),
  seal: deriveKey(secret, 'idempotency-seal'),
});
const KEYS = keysFrom('store-test-signing-key-0123456789abcdefgh');
const RESPONSE = {
  status: 201,
  headers: { 'content-type': 'application/json; charset=utf-8', location: '/v1/public/tickets/FRE-ABCDEFGH' },
  body: Buffer.from('{"access_token":"secret-token"}'),
};

describe('idempotency records (store)', () => {
  let dynamo: DynamoClients;
  let table: string;
  let now = Date.parse('2026-03-01T10:00:00.000Z');
  const clock = () => now;
  const store = (keys = KEYS) =>
    new IdempotencyStore(dynamo.doc, table, keys, { leaseMs: 60_000, retentionSeconds: 86_400, now: clock });

  before(async function () {
    // The first suite of a run may wait for DynamoDB Local's JVM to start on a busy machine.
    this.timeout(120_000);
    const engine = await sharedEngine();
    dynamo = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 5000 });
    const names = uniqueTableNames();
    await ensureTables(dynamo.client, names);
    table = names.ratelimits;
  });
  after(() => dynamo.client.destroy());

  it('takes over a reservation whose lease ran out (a task died mid-request); the late first attempt keeps nothing', async () => {
    const key = randomUUID();
    const first = await store().reserve('principal:user:a@x.test', key, 'POST /v1/users\n{}');
    expect(first.kind).to.equal('reserved');
    now += 59_000;
    expect((await store().reserve('principal:user:a@x.test', key, 'POST /v1/users\n{}')).kind).to.equal('running');
    now += 1_000;
    const second = await store().reserve('principal:user:a@x.test', key, 'POST /v1/users\n{}');
    expect(second.kind).to.equal('reserved');
    if (first.kind !== 'reserved' || second.kind !== 'reserved') return;

    expect(await store().complete(first.lease, RESPONSE)).to.equal(false);
    expect(await store().release(first.lease)).to.equal(false);
    expect(await store().complete(second.lease, RESPONSE)).to.equal(true);
    const replay = await store().reserve('principal:user:a@x.test', key, 'POST /v1/users\n{}');
    expect(replay).to.deep.equal({ kind: 'replay', response: RESPONSE });
  });

  it('frees a key on release, for any request', async () => {
    const key = randomUUID();
    const first = await store().reserve('client:192.0.2.1', key, 'POST /v1/public/tickets\n{"message":"a"}');
    if (first.kind !== 'reserved') throw new Error(first.kind);
    expect(await store().release(first.lease)).to.equal(true);
    const next = await store().reserve('client:192.0.2.1', key, 'POST /v1/public/tickets\n{"message":"b"}');
    expect(next.kind).to.equal('reserved');
  });

  it('sets the TTL attribute to the end of retention, and treats a record past it as gone (TTL deletes late)', async () => {
    const key = randomUUID();
    const s = store();
    const first = await s.reserve('client:192.0.2.2', key, 'same');
    if (first.kind !== 'reserved') throw new Error(first.kind);
    await s.complete(first.lease, RESPONSE);
    const { Item } = await dynamo.doc.send(
      new GetCommand({ TableName: table, Key: { limit_key: s.recordKey('client:192.0.2.2', key) } }),
    );
    expect(Item?.expires_at).to.equal(Math.ceil(now / 1000) + 86_400);

    now += 86_399_000;
    expect((await s.reserve('client:192.0.2.2', key, 'same')).kind).to.equal('replay');
    now += 1_000;
    expect((await s.reserve('client:192.0.2.2', key, 'same')).kind).to.equal('reserved');
  });

  it('never replays a sealed body moved to another record: the encryption is bound to its record', async () => {
    const s = store();
    const [a, b] = [randomUUID(), randomUUID()];
    for (const key of [a, b]) {
      const r = await s.reserve('client:192.0.2.3', key, 'same');
      if (r.kind !== 'reserved') throw new Error(r.kind);
      await s.complete(r.lease, { ...RESPONSE, body: Buffer.from(`{"for":"${key}"}`) });
    }
    const read = (key: string) =>
      dynamo.doc.send(new GetCommand({ TableName: table, Key: { limit_key: s.recordKey('client:192.0.2.3', key) } }));
    const { Item: recordA } = await read(a);
    await dynamo.doc.send(
      new UpdateCommand({
        TableName: table,
        Key: { limit_key: s.recordKey('client:192.0.2.3', b) },
        UpdateExpression: 'SET response_body = :body',
        ExpressionAttributeValues: { ':body': recordA?.response_body },
      }),
    );
    expect((await s.reserve('client:192.0.2.3', a, 'same')).kind).to.equal('replay');
    expect((await s.reserve('client:192.0.2.3', b, 'same')).kind).to.equal('unreadable');
  });

  it('gives each signing key its own records: after a rotation, earlier keys are free again', async () => {
    const key = randomUUID();
    const first = await store().reserve('client:192.0.2.4', key, 'same');
    if (first.kind !== 'reserved') throw new Error(first.kind);
    await store().complete(first.lease, RESPONSE);
    const rotated = store(keysFrom('rotated-signing-key-0123456789abcdefghij'));
    expect((await rotated.reserve('client:192.0.2.4', key, 'same')).kind).to.equal('reserved');
  });
});
