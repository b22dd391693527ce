import { expect } from 'chai';
import { normaliseRecord, normaliseTimestamp } from '../../scripts/legacy/normalise.js';

const base = {
  ticket_id: 'FRE-0000AAAA',
  status: 'nouveau',
  created_at: '2025-11-21T10:00:00.123456',
  messages: [] as unknown[],
};

function ok(raw: Record<string, unknown>) {
  const n = normaliseRecord({ ...base, ...raw });
  if (!n.ok) throw new Error(n.reasons.join('; '));
  return n.record;
}

function reasons(raw: Record<string, unknown>) {
  const n = normaliseRecord({ ...base, ...raw });
  if (n.ok) throw new Error('expected a rejection');
  return n.reasons.join(' | ');
}

describe('legacy record normalisation', () => {
  it('turns naive, Z and offset timestamps into UTC with milliseconds, truncating microseconds', () => {
    expect(normaliseTimestamp('2025-11-21T19:36:28.759466')).to.equal('2025-11-21T19:36:28.759Z');
    expect(normaliseTimestamp('2025-11-21T19:36:28.759999Z')).to.equal('2025-11-21T19:36:28.759Z');
    expect(normaliseTimestamp('2025-11-21T19:36:28+01:00')).to.equal('2025-11-21T18:36:28.000Z');
    expect(normaliseTimestamp('2025-11-21 19:36')).to.equal('2025-11-21T19:36:00.000Z');
    for (const bad of ['hier', '2025-02-30T10:00:00', '2025-11-21', 1732180000, null]) {
      expect(normaliseTimestamp(bad), String(bad)).to.equal(undefined);
    }
  });

  it('maps the French statuses, priorities, channels and analytics to the English vocabulary', () => {
    const expectations: Array<[string, string]> = [
      ['nouveau', 'new'],
      ['en cours', 'in_progress'],
      ['fermé', 'closed'],
      ['ferme', 'closed'],
      ['closed', 'closed'],
    ];
    for (const [legacy, status] of expectations) expect(ok({ status: legacy }).ticket.status).to.equal(status);
    expect(ok({ priority: 'haute' }).ticket.priority).to.equal('high');
    expect(ok({ priority: 'normale' }).ticket.priority).to.equal('normal');
    expect(ok({ priority: 'basse' }).ticket.priority).to.equal('low');
    expect(ok({}).ticket.priority).to.equal('normal');
    expect(ok({ channel: 'telephone' }).ticket.channel).to.equal('phone');
    expect(ok({}).ticket.channel).to.equal('chat');
    const { analytics } = ok({
      analytics: { sentiment: 'negatif', category: 'commercial', urgency: 'basse', churn_risk: 81, alert: null },
    }).ticket;
    expect(analytics).to.deep.include({
      sentiment: 'negative',
      category: 'sales',
      urgency: 'low',
      churn_risk: 81,
      alert: 'urgent_retention',
      analyzed_at: '2025-11-21T10:00:00.123Z',
    });
    const calm = ok({
      analytics: { sentiment: 'positif', category: 'autre', urgency: 'haute', alert: 'URGENT_RETENTION' },
    });
    expect(calm.ticket.analytics).to.not.have.property('alert');
    expect(calm.ticket.analytics?.churn_risk).to.equal(0);
  });

  it('reads both message shapes and keeps internal notes internal', () => {
    const { messages, ticket } = ok({
      customer_name: 'Alice',
      messages: [
        { id: 'a', role: 'user', content: 'Bonjour', timestamp: '2025-11-21T10:00:00.123456' },
        { id: 'b', role: 'assistant', content: 'Bonjour Alice', timestamp: '2025-11-21T10:00:05Z' },
        { message_id: 'c', type: 'client', author: 'Alice', content: 'Et ?', timestamp: '2025-11-21T10:01:00' },
        {
          message_id: 'd',
          type: 'agent',
          author: 'Bob',
          internal: true,
          content: 'note',
          timestamp: '2025-11-21T10:02',
        },
        { message_id: 'e', type: 'agent', author: 'Bob', content: 'Voilà', timestamp: '2025-11-21T10:03:00' },
      ],
    });
    expect(messages.map((m) => `${m.message_id}:${m.type}:${m.author_name}`)).to.deep.equal([
      'a:customer:Alice',
      'b:assistant:Assistant',
      'c:customer:Alice',
      'd:internal:Bob',
      'e:agent:Bob',
    ]);
    expect(messages[0]?.sk).to.equal('MSG#2025-11-21T10:00:00.123Z#a');
    // The first response is the agent's; the assistant's real answer is told apart.
    expect(ticket).to.include({
      first_response_at: '2025-11-21T10:03:00.000Z',
      first_response_seconds: 180,
      agent_replied_at: '2025-11-21T10:03:00.000Z',
      first_assistant_response_at: '2025-11-21T10:00:05.000Z',
      first_assistant_response_seconds: 5,
    });
    expect(ticket.updated_at).to.equal('2025-11-21T10:03:00.000Z');
    expect(ticket).to.not.have.property('access_token_hash');
  });

  it('takes the resolution time under either legacy name, and computes it when absent', () => {
    const closed = { status: 'fermé', closed_at: '2025-11-21T10:10:00' };
    expect(ok({ ...closed, resolution_duration: 593 }).ticket.resolution_seconds).to.equal(593);
    expect(ok({ ...closed, resolution_time_seconds: 238 }).ticket.resolution_seconds).to.equal(238);
    expect(ok(closed).ticket.resolution_seconds).to.equal(600);
  });

  it('rejects what it cannot normalise, naming every problem', () => {
    expect(reasons({ ticket_id: undefined })).to.match(/no ticket_id/);
    expect(reasons({ ticket_id: 12 })).to.match(/ticket_id 12 is not a string/);
    expect(reasons({ ticket_id: 'ticket 1' })).to.match(/is not a ticket id/);
    expect(reasons({ status: 'archivé' })).to.match(/status "archivé" is not a known status/);
    expect(reasons({ channel: 'fax' })).to.match(/channel "fax" is not a known channel/);
    expect(reasons({ created_at: 'yesterday' })).to.match(/created_at "yesterday" is not a timestamp/);
    expect(reasons({ analytics: { sentiment: 'furieux', category: 'autre', urgency: 'basse' } })).to.match(
      /analytics.sentiment "furieux"/,
    );
    const both = reasons({
      messages: [
        { id: 'a', role: 'user', content: 'x', timestamp: '2025-11-21T10:00:00' },
        { id: 'a', role: 'bot', content: 'y', timestamp: '2025-11-21T10:00:00' },
        { role: 'user', content: 'z', timestamp: '2025-11-21T10:00:00' },
      ],
    });
    expect(both).to.match(/messages\[1\].type "bot"/);
    expect(both).to.match(/messages\[2\] has no message id/);
    const dup = reasons({
      messages: [
        { id: 'a', role: 'user', content: 'x', timestamp: '2025-11-21T10:00:00' },
        { id: 'a', role: 'user', content: 'y', timestamp: '2025-11-21T10:00:01' },
      ],
    });
    expect(dup).to.match(/messages\[1\] repeats message id a/);
    expect(normaliseRecord({ ...base }, 'FRE-0000BBBB')).to.deep.include({ ok: false });
  });
});
