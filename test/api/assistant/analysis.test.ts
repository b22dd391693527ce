import { expect } from 'chai';
import { parseAnalysis, toAnalytics } from '../../../api/assistant/analysis.js';
import { InvalidModelOutput } from '../../../api/assistant/mistral.js';

const valid = {
  sentiment: 'negative',
  category: 'technical',
  urgency: 'high',
  churn_risk: 40,
  summary: 'Plus de connexion depuis hier',
  next_action: 'Tester la ligne',
};

describe('analysis validation', () => {
  it('accepts an answer in the vocabulary and stamps it', () => {
    const analytics = toAnalytics(parseAnalysis(JSON.stringify(valid)), '2026-01-02T03:04:05.678Z');
    expect(analytics).to.deep.equal({ ...valid, analyzed_at: '2026-01-02T03:04:05.678Z' });
  });

  it('flags urgent retention above a churn risk of 80, not at 80', () => {
    const at = '2026-01-02T03:04:05.678Z';
    expect(toAnalytics(parseAnalysis(JSON.stringify({ ...valid, churn_risk: 81 })), at).alert).to.equal(
      'urgent_retention',
    );
    expect(toAnalytics(parseAnalysis(JSON.stringify({ ...valid, churn_risk: 80 })), at)).to.not.have.key('alert');
  });

  it('rejects whatever is not exactly the vocabulary, never patching it up', () => {
    const rejected = [
      'not json at all',
      '```json\n{}\n```',
      JSON.stringify([valid]),
      JSON.stringify({ ...valid, sentiment: 'negatif' }),
      JSON.stringify({ ...valid, category: 'facturation' }),
      JSON.stringify({ ...valid, urgency: 'urgent' }),
      JSON.stringify({ ...valid, churn_risk: 150 }),
      JSON.stringify({ ...valid, churn_risk: -1 }),
      JSON.stringify({ ...valid, churn_risk: 42.5 }),
      JSON.stringify({ ...valid, churn_risk: '90' }),
      JSON.stringify({ ...valid, summary: '' }),
      JSON.stringify({ ...valid, next_action: 'x'.repeat(301) }),
      JSON.stringify({ sentiment: 'neutral' }),
    ];
    for (const text of rejected) {
      expect(() => parseAnalysis(text), text).to.throw(InvalidModelOutput);
    }
  });
});
