/**
 * Webhooks across real service processes on one DynamoDB Local: deliveries pending when a service is killed
 * with SIGKILL are all made after a restart; with two services running, each delivery is made by exactly one.
 */
import { expect } from 'chai';
import { createDynamoClients, type DynamoClients } from '../../../api/db/client.js';
import { ensureTables } from '../../../api/db/schema.js';
import { tableEnv } from '../../../api/db/tables.js';
import { EventLog } from '../../../api/events/log.js';
import type { TicketEvent } from '../../../api/events/model.js';
import { eventually, sleep } from '../../support/assistant.js';
import { sharedEngine, uniqueTableNames } from '../../support/engine.js';
import { ADMIN_KEY, SIGNING_KEY } from '../../support/harness.js';
import { runService, type ServiceProcess } from '../../support/process.js';
import { LOOKBACK_MS, type Receiver, startReceiver } from '../../support/webhooks.js';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

async function post<T = { webhook_id: string }>(
  service: ServiceProcess,
  path: string,
  body: object,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  expect(res.status, `${path}: ${res.status}`).to.be.oneOf([200, 201]);
  return (await res.json()) as T;
}

interface OpenedTicket {
  ticket: { ticket_id: string };
  access_token: string;
}

interface DeliveryRow {
  event_id: string;
  attempts: number;
  state: string;
}

async function deliveriesOf(service: ServiceProcess, webhookId: string): Promise<DeliveryRow[]> {
  const res = await fetch(`${service.url}/v1/webhooks/${webhookId}/deliveries?limit=100`, { headers: admin });
  expect(res.status).to.equal(200);
  return ((await res.json()) as { deliveries: DeliveryRow[] }).deliveries;
}

describe('webhooks across service processes', () => {
  let tables: ReturnType<typeof uniqueTableNames>;
  let env: Record<string, string>;
  let dynamo: DynamoClients;
  let log: EventLog;
  const services: ServiceProcess[] = [];
  let receiver: Receiver;

  const start = async () => {
    const s = await runService(env).ready;
    services.push(s);
    return s;
  };
  const eventsOf = async (ticketIds: string[]): Promise<TicketEvent[]> =>
    (await Promise.all(ticketIds.map((id) => log.ofTicket(id, 100)))).flatMap((p) => p.events);

  beforeEach(async () => {
    const engine = await sharedEngine();
    tables = uniqueTableNames();
    dynamo = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 5000 });
    await ensureTables(dynamo.client, tables);
    log = new EventLog(dynamo.doc, tables.events, 30);
    receiver = await startReceiver();
    env = {
      DYNAMODB_ENDPOINT: engine.endpoint,
      ...tableEnv(tables),
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      TOKEN_SIGNING_KEY: SIGNING_KEY,
      RATE_LIMIT_TICKETS_PER_HOUR: '100000',
      EVENTS_LOOKBACK_MS: String(LOOKBACK_MS),
      EVENTS_POLL_MS: '50',
      WEBHOOK_RETRY_BASE_MS: '50',
      WEBHOOK_TIMEOUT_MS: '1000',
      SHUTDOWN_DELAY_MS: '0',
    };
  });
  afterEach(async () => {
    for (const s of services.splice(0)) s.child.kill('SIGKILL');
    await receiver.close();
    dynamo.client.destroy();
  });

  it('delivers everything pending after the service is killed with SIGKILL and started again', async () => {
    receiver.answer = () => ({ status: 503 });
    const first = await start();
    const sub = await post(first, '/v1/webhooks', { url: receiver.url, events: ['*'] }, admin);
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const t = await post<OpenedTicket>(first, '/v1/public/tickets', { message: `Coupure ${n}` });
      ids.push(t.ticket.ticket_id);
    }
    const expected = await eventsOf(ids);
    // Every event has its delivery, and each has failed at least once: all pending.
    await eventually(
      'every delivery attempted',
      async () => {
        const deliveries = await deliveriesOf(first, sub.webhook_id);
        return expected.every((e) =>
          deliveries.some((d) => d.event_id === e.id && d.attempts >= 1 && d.state === 'pending'),
        );
      },
      { timeoutMs: 30_000 },
    );
    first.child.kill('SIGKILL');
    await first.exited;

    const accepted = new Set<string>();
    receiver.answer = (r) => {
      accepted.add(r.event.id);
      return { status: 204 };
    };
    const second = await start();
    await eventually('every event accepted after the restart', () => expected.every((e) => accepted.has(e.id)), {
      timeoutMs: 60_000,
    });
    // The receiver's answer is recorded just after it is given.
    await eventually('every delivery recorded as delivered', async () => {
      const deliveries = await deliveriesOf(second, sub.webhook_id);
      return expected.every((e) => deliveries.find((d) => d.event_id === e.id)?.state === 'delivered');
    });
  });

  it('with two services on one table, each delivery is made by exactly one of them', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    if (!a || !b) throw new Error('services did not start');
    const sub = await post(a, '/v1/webhooks', { url: receiver.url, events: ['*'] }, admin);
    const ids: string[] = [];
    for (let n = 0; n < 16; n++) {
      const service = n % 2 === 0 ? a : b;
      const t = await post<OpenedTicket>(service, '/v1/public/tickets', { message: `Question ${n}` });
      ids.push(t.ticket.ticket_id);
      await post(
        n % 2 === 0 ? b : a,
        `/v1/public/tickets/${t.ticket.ticket_id}/messages`,
        { content: 'Toujours là ?' },
        { authorization: `Bearer ${t.access_token}` },
      );
    }
    const expected = await eventsOf(ids);
    expect(expected.length).to.be.at.least(32);
    await eventually(
      'every event received',
      () => expected.every((e) => receiver.receipts.some((r) => r.event.id === e.id)),
      { timeoutMs: 60_000 },
    );
    // Both services read every event; give a duplicate every chance to appear.
    await sleep(LOOKBACK_MS * 3);
    const byId = new Map<string, number>();
    for (const r of receiver.receipts) byId.set(r.webhookId, (byId.get(r.webhookId) ?? 0) + 1);
    expect(
      [...byId.values()].every((n) => n === 1),
      'one receipt per webhook-id',
    ).to.equal(true);
    expect(byId.size).to.equal(expected.length);
    expect(sub.webhook_id).to.match(/^wh_/);
  });
});
