/**
 * `npm run migrate:shape` on a table written by an earlier version: the first message moves out of the ticket
 * item, the history kept in it becomes events of the log, the API serves the ticket in the new shape, and a
 * rerun changes nothing.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { TicketRepository } from '../../api/tickets/repository.js';
import { type Harness, startHarness } from '../support/harness.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('stored shape migration (npm run migrate:shape)', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const run = () =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'migrate-shape.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'test',
        DYNAMODB_ENDPOINT: h.endpoint,
        TICKETS_TABLE: h.tables.tickets,
        PRINCIPALS_TABLE: h.tables.principals,
        RATE_LIMITS_TABLE: h.tables.ratelimits,
        EVENTS_TABLE: h.tables.events,
        WEBHOOKS_TABLE: h.tables.webhooks,
      },
    });

  it('moves the first message and the history out of the ticket item, idempotently', async () => {
    const id = 'FRE-OLDSHAPE';
    const at = '2026-03-01T10:00:00.000Z';
    const events = Array.from({ length: 150 }, (_, i) => ({
      type: 'tags_changed',
      at: new Date(Date.parse(at) + (i + 1) * 60_000).toISOString(),
      by: 'agent@freeda.test',
      from: [`t${i}`],
      to: [`t${i + 1}`],
    }));
    await h.runtime.dynamo.doc.send(
      new PutCommand({
        TableName: h.tables.tickets,
        Item: TicketRepository.withIndexAttributes({
          ticket_id: id,
          sk: 'TICKET',
          status: 'new',
          priority: 'normal',
          channel: 'chat',
          tags: ['t150'],
          created_at: at,
          updated_at: at,
          version: 151,
          initial_message: {
            message_id: 'first-message',
            type: 'customer',
            content: 'My box blinks red',
            author_name: 'Alice',
            created_at: at,
          },
          events,
        } as never),
      }),
    );

    const first = run();
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/1 reshaped/);

    const item = (
      await h.runtime.dynamo.doc.send(
        new GetCommand({ TableName: h.tables.tickets, Key: { ticket_id: id, sk: 'TICKET' }, ConsistentRead: true }),
      )
    ).Item;
    expect(item).to.not.have.property('initial_message');
    expect(item).to.not.have.property('events');
    expect(item).to.include({ version: 151 });
    const activity = await h.runtime.dynamo.doc.send(
      new GetCommand({ TableName: h.tables.tickets, Key: { ticket_id: id, sk: 'ACTIVITY' }, ConsistentRead: true }),
    );
    expect(activity.Item).to.include({ last_customer_message_at: at });

    const agent = (await h.user('agent')).token;
    const read = await h.http().get(`/v1/tickets/${id}`).set('authorization', `Bearer ${agent}`).expect(200);
    expect(read.body.messages.map((m: { content: string }) => m.content)).to.deep.equal(['My box blinks red']);
    const history: Array<{ type: string }> = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { body: { events: Array<{ type: string }>; next_cursor: string | null } } = await h
        .http()
        .get(`/v1/tickets/${id}/history`)
        .query({ limit: 100, ...(cursor && { cursor }) })
        .set('authorization', `Bearer ${agent}`)
        .expect(200);
      history.push(...page.body.events);
      cursor = page.body.next_cursor;
    }
    expect(history).to.have.length(151);
    expect(history[0]?.type).to.equal('ticket.created');

    const again = run();
    expect(again.status, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/0 reshaped/);
  });
});
