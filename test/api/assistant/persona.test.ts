import { expect } from 'chai';
import { SIGNATURE, signed, unsigned } from '../../../api/assistant/persona.js';

describe('assistant signature', () => {
  const body = 'Redémarrez votre Freebox.';

  it('adds the signature once to an unsigned text', () => {
    expect(signed(body)).to.equal(`${body}\n\n${SIGNATURE}`);
  });

  it('normalises whatever signature the model wrote into exactly one', () => {
    for (const variant of [
      `${body}\n-- Agent Free`,
      `${body}\n\n--\nAgent Free`,
      `${body}\n— Agent Free`,
      `${body}\nAgent Free`,
      `${body}\n\nL'équipe Free`,
      `${body} -- Agent Free`,
      `${body}\n-- Agent Free\n-- Agent Free\n`,
      `${body}\r\n--\r\nAgent Free\r\n`,
    ]) {
      expect(signed(variant), JSON.stringify(variant)).to.equal(`${body}\n\n${SIGNATURE}`);
    }
  });

  it('keeps the text itself, including "Free" where it belongs', () => {
    const text = 'Votre box Free redémarre.\nBonne journée,';
    expect(unsigned(`${text}\n-- Agent Free`)).to.equal(text);
    expect(unsigned('Agent Free')).to.equal('Agent Free');
  });
});
