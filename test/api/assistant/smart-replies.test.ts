import { expect } from 'chai';
import { SIGNATURE } from '../../../api/assistant/persona.js';
import { smartReply } from '../../../api/assistant/smart-replies.js';

describe('smart replies', () => {
  const kind = (message: string) => smartReply(message)?.kind;

  it('answers a message that is only a greeting, thanks or goodbye', () => {
    expect(kind('Bonjour')).to.equal('greeting');
    expect(kind('  Salut !! ')).to.equal('greeting');
    expect(kind('hello')).to.equal('greeting');
    expect(kind('Merci beaucoup !')).to.equal('thanks');
    expect(kind("D'accord, merci")).to.equal('thanks');
    expect(kind('Super, merci bien')).to.equal('thanks');
    expect(kind('Au revoir')).to.equal('goodbye');
    expect(kind('Merci, bonne journée !')).to.equal('goodbye');
  });

  it("answers the legacy's known questions when that is all the message asks", () => {
    expect(kind('Comment payer ma facture ?')).to.equal('invoices');
    expect(kind('Bonjour, où trouver mes factures svp')).to.equal('invoices');
    expect(kind("J'ai oublié mon mot de passe")).to.equal('password');
    expect(kind('Je veux parler à un conseiller')).to.equal('human');
    expect(kind('Je voudrais parler à un humain svp')).to.equal('human');
    expect(kind('Où est la boutique la plus proche ?')).to.equal('shops');
    expect(kind('Je déménage, comment transférer ma box ?')).to.equal('moving');
    expect(kind('Y a-t-il une panne générale dans mon quartier ?')).to.equal('outage');
  });

  it('leaves a greeting that carries a real question to the model (the old rule swallowed it)', () => {
    expect(smartReply('Bonjour, ma fibre est coupée depuis 3 jours')).to.equal(undefined);
    expect(smartReply('Bonjour, my fibre is down')).to.equal(undefined);
    expect(smartReply('Salut, super lent le wifi ce soir')).to.equal(undefined);
    expect(smartReply('Merci mais toujours pas de connexion')).to.equal(undefined);
  });

  it('leaves a known topic with more to it to the model', () => {
    expect(smartReply('Ma facture est deux fois plus chère que le mois dernier')).to.equal(undefined);
    expect(smartReply('Je veux parler à un conseiller, ma ligne est coupée depuis lundi')).to.equal(undefined);
    expect(smartReply('Ma fibre est en panne')).to.equal(undefined);
    expect(smartReply('facture et mot de passe')).to.equal(undefined);
  });

  it('leaves empty, grammar-only and long messages to the model', () => {
    expect(smartReply('')).to.equal(undefined);
    expect(smartReply('?!')).to.equal(undefined);
    expect(smartReply('comment ?')).to.equal(undefined);
    expect(smartReply(`Bonjour ${'merci '.repeat(20)}`)).to.equal(undefined);
  });

  it('signs every canned answer once, like the model replies', () => {
    for (const message of ['Bonjour', 'Merci', 'Au revoir', 'Comment payer ma facture ?']) {
      const text = smartReply(message)?.text ?? '';
      expect(text.endsWith(`\n\n${SIGNATURE}`), message).to.equal(true);
      expect(text.split(SIGNATURE)).to.have.length(2);
    }
  });
});
