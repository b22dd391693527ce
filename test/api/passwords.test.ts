import { expect } from 'chai';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';

const admin = `Bearer ${ADMIN_KEY}`;

describe('password strength and Unicode normalisation', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  let n = 0;
  const create = (password: string, name = 'Strength Test') =>
    h
      .http()
      .post('/v1/users')
      .set('authorization', admin)
      .send({ email: `strength${++n}@freeda.test`, name, role: 'agent', password });

  it('refuses common, repeated, blank and fullwidth-repeated passwords with a 400 that says why', async () => {
    for (const weak of [
      'password1234',
      'aaaaaaaaaaaa',
      ' '.repeat(12),
      'ａ'.repeat(12),
      'qwertyuiopasdf',
      '123456789012',
    ]) {
      const res = await create(weak).expect(400);
      expect(res.body.error.code, JSON.stringify(weak)).to.equal('invalid_request');
      expect(res.body.error.details[0].path).to.equal('body.password');
      expect(res.body.error.message).to.match(/too easy to guess/);
      expect(res.body.error.message.length).to.be.greaterThan(40);
    }
    const common = await create('password1234').expect(400);
    expect(common.body.error.message).to.match(/commonly used password/);
  });

  it("refuses a password made of the user's own name", async () => {
    await create('marguerite duval', 'Marguerite Duval').expect(400);
  });

  it('accepts an uncommon passphrase', async () => {
    await create('violet harbour lantern 1987').expect(201);
  });

  it('hashes the NFKC form: a fullwidth or decomposed spelling logs in as its normal form', async () => {
    const email = `nfkc${++n}@freeda.test`;
    const fullwidth = 'ｖｉｏｌｅｔ ｈａｒｂｏｕｒ ｌａｎｔｅｒｎ １９８７';
    await h
      .http()
      .post('/v1/users')
      .set('authorization', admin)
      .send({ email, name: 'N', role: 'agent', password: fullwidth })
      .expect(201);
    await h.http().post('/v1/auth/login').send({ email, password: 'violet harbour lantern 1987' }).expect(200);
    await h.http().post('/v1/auth/login').send({ email, password: fullwidth }).expect(200);

    const email2 = `nfkc${++n}@freeda.test`;
    const composed = 'crème brûlée lighthouse 52';
    await h
      .http()
      .post('/v1/users')
      .set('authorization', admin)
      .send({ email: email2, name: 'N', role: 'agent', password: composed.normalize('NFD') })
      .expect(201);
    await h
      .http()
      .post('/v1/auth/login')
      .send({ email: email2, password: composed.normalize('NFC') })
      .expect(200);
  });

  it('checks the strength of a new password on change and on reset too', async () => {
    const u = await h.user('agent');
    const change = await h
      .http()
      .post('/v1/auth/password')
      .set('authorization', `Bearer ${u.token}`)
      .send({ current_password: u.password, new_password: 'password1234' })
      .expect(400);
    expect(change.body.error.details[0].path).to.equal('body.new_password');
    const reset = await h
      .http()
      .post(`/v1/users/${u.email}/password`)
      .set('authorization', admin)
      .send({ password: 'aaaaaaaaaaaa' })
      .expect(400);
    expect(reset.body.error.details[0].path).to.equal('body.password');
    await h.http().post('/v1/auth/login').send({ email: u.email, password: u.password }).expect(200);
  });
});
