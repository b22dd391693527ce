/**
 * `npm run migrate:shape` on a table written by an earlier version: the first message moves out of the ticket
 * item, the history kept in it becomes events of the log, the API serves the ticket in the new shape, and a
 * rerun changes nothing.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'chai';
import { ACKNOWLEDGEMENT, signed } from '../../api/assistant/persona.js';
import { tableEnv } from '../../api/db/tables.js';
import { messageSortKey, TicketRepository } from '../../api/tickets/repository.js';
import { type Harness, startHarness } from '../support/harness.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('stored shape migration (npm run migrate:shape)', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const env = () => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'test',
    DYNAMODB_ENDPOINT: h.endpoint,
    ...tableEnv(h.tables),
  });
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'migrate-shape.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: env(),
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

  it("tells apart the first responses an earlier version stamped with the assistant's reply, idempotently", async () => {
    const at = (seconds: number) => new Date(Date.parse('2026-03-02T10:00:00.000Z') + seconds * 1000).toISOString();
    const put = (Item: Record<string, unknown>) =>
      h.runtime.dynamo.doc.send(new PutCommand({ TableName: h.tables.tickets, Item }));
    const ticket = (id: string, firstResponseAt: string) =>
      put(
        TicketRepository.withIndexAttributes({
          ticket_id: id,
          sk: 'TICKET',
          status: 'in_progress',
          priority: 'normal',
          channel: 'chat',
          tags: [],
          created_at: at(0),
          updated_at: at(0),
          version: 2,
          first_response_at: firstResponseAt,
        } as never),
      );
    const message = (id: string, n: number, type: string, seconds: number, content = 'text') =>
      put({
        ticket_id: id,
        sk: messageSortKey(at(seconds), `${id}-${n}`),
        message_id: `${id}-${n}`,
        type,
        content,
        author_name: type,
        created_at: at(seconds),
      });
    // The assistant acknowledged at +1 s (stamped as the first response), an agent answered at +300 s.
    await ticket('FRE-ACKFIRST', at(1));
    await message('FRE-ACKFIRST', 1, 'customer', 0);
    await message('FRE-ACKFIRST', 2, 'assistant', 1, signed(ACKNOWLEDGEMENT));
    await message('FRE-ACKFIRST', 3, 'agent', 300);
    // The assistant really answered at +2 s; no agent ever did.
    await ticket('FRE-BOTANSWR', at(2));
    await message('FRE-BOTANSWR', 1, 'customer', 0);
    await message('FRE-BOTANSWR', 2, 'assistant', 2, signed('Redémarrez votre box.'));

    const dry = run('--dry-run');
    expect(dry.stdout).to.match(/2 tickets to reshape/);
    const first = run();
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/2 reshaped/);
    const get = async (id: string) =>
      (
        await h.runtime.dynamo.doc.send(
          new GetCommand({ TableName: h.tables.tickets, Key: { ticket_id: id, sk: 'TICKET' }, ConsistentRead: true }),
        )
      ).Item;
    const acked = await get('FRE-ACKFIRST');
    expect(acked).to.include({ first_response_at: at(300), first_response_seconds: 300, agent_replied_at: at(300) });
    expect(acked).to.not.have.property('first_assistant_response_at');
    const answered = await get('FRE-BOTANSWR');
    expect(answered).to.include({ first_assistant_response_at: at(2), first_assistant_response_seconds: 2 });
    expect(answered).to.not.have.any.keys('first_response_at', 'first_response_seconds', 'agent_replied_at');
    expect(answered).to.include({ version: 2 });

    const again = run();
    expect(again.status, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^0 reshaped/);
  });

  it('gives tickets of the earlier list design the current list keys and lookup items, idempotently', async () => {
    const at = (m: number) => new Date(Date.UTC(2026, 5, 1, 9, m)).toISOString();
    const agentEmail = 'old.agent@freeda.test';
    // As the earlier version stored them: one partition attribute per combination, none when unassigned.
    const earlier = [
      {
        ticket_id: 'FRE-OLDLIST1',
        status: 'in_progress',
        channel: 'email',
        assigned_to: agentEmail,
        tags: ['billing', 'vip'],
        customer_email: 'old.customer@example.com',
        created_at: at(0),
        list_all: 'ALL',
        status_channel: 'in_progress#email',
        assigned_to_status: `${agentEmail}#in_progress`,
        assigned_to_channel: `${agentEmail}#email`,
        assigned_to_status_channel: `${agentEmail}#in_progress#email`,
        // Customer, agent reply, then two unanswered customer messages: waits since the first of those.
        messages: [
          ['customer', at(0)],
          ['agent', at(1)],
          ['customer', at(2)],
          ['assistant', at(3)],
          ['customer', at(4)],
        ],
      },
      {
        ticket_id: 'FRE-OLDLIST2',
        status: 'new',
        channel: 'chat',
        tags: [],
        created_at: at(5),
        list_all: 'ALL',
        status_channel: 'new#chat',
        messages: [['customer', at(5)]],
      },
      {
        ticket_id: 'FRE-OLDLIST3',
        status: 'closed',
        channel: 'chat',
        tags: ['billing'],
        created_at: at(6),
        closed_at: at(8),
        list_all: 'ALL',
        status_channel: 'closed#chat',
        messages: [['customer', at(6)]],
      },
    ];
    for (const { messages, ...ticket } of earlier) {
      await h.runtime.dynamo.doc.send(
        new PutCommand({
          TableName: h.tables.tickets,
          Item: { ...ticket, sk: 'TICKET', priority: 'normal', updated_at: ticket.created_at, version: 3 },
        }),
      );
      for (const [type, created] of messages as Array<[string, string]>) {
        await h.runtime.dynamo.doc.send(
          new PutCommand({
            TableName: h.tables.tickets,
            Item: {
              ticket_id: ticket.ticket_id,
              sk: `MSG#${created}#m-${created}`,
              message_id: `m-${created}`,
              type,
              content: 'text',
              author_name: type,
              created_at: created,
            },
          }),
        );
      }
    }

    const dry = run('--dry-run');
    expect(dry.stdout).to.match(/Dry run: 3 tickets to reshape/);
    const first = run();
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/^3 reshaped/);

    const item = async (id: string) =>
      (
        await h.runtime.dynamo.doc.send(
          new GetCommand({ TableName: h.tables.tickets, Key: { ticket_id: id, sk: 'TICKET' }, ConsistentRead: true }),
        )
      ).Item as Record<string, unknown>;
    const one = await item('FRE-OLDLIST1');
    expect(one).to.include({
      assignee: agentEmail,
      assignee_status_channel: `${agentEmail}#in_progress#email`,
      waiting_since: at(2),
      version: 3,
    });
    expect(one).to.not.have.any.keys('assigned_to_status', 'assigned_to_channel', 'assigned_to_status_channel');
    expect(await item('FRE-OLDLIST2')).to.include({ assignee: 'none', waiting_since: at(5) });
    expect(await item('FRE-OLDLIST3')).to.not.have.property('waiting_since');

    const agent = (await h.user('agent')).token;
    const ids = async (query: string) =>
      (await h.http().get(`/v1/tickets?${query}`).set('authorization', `Bearer ${agent}`).expect(200)).body.items.map(
        (t: { ticket_id: string }) => t.ticket_id,
      );
    expect(await ids('tag=billing')).to.deep.equal(['FRE-OLDLIST3', 'FRE-OLDLIST1']);
    expect(await ids('tag=vip')).to.deep.equal(['FRE-OLDLIST1']);
    expect(await ids('customer=Old.Customer@example.com')).to.deep.equal(['FRE-OLDLIST1']);
    // (The ticket of the test above is unassigned, on chat, too.)
    expect(
      (await ids('assigned_to=none&channel=chat')).filter((id: string) => id.startsWith('FRE-OLDLIST')),
    ).to.deep.equal(['FRE-OLDLIST3', 'FRE-OLDLIST2']);
    expect(await ids(`assigned_to=${agentEmail}&status=in_progress&channel=email`)).to.deep.equal(['FRE-OLDLIST1']);
    const waiting = await ids('sort=waiting');
    expect(waiting.filter((id: string) => id.startsWith('FRE-OLDLIST'))).to.deep.equal([
      'FRE-OLDLIST1',
      'FRE-OLDLIST2',
    ]);

    const again = run();
    expect(again.status, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^0 reshaped/);
  });
});
