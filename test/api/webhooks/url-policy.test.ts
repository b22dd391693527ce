/**
 * Where webhooks may point: in production only public https receivers, refused at creation and change (400
 * with a clear code) and again at delivery time, on the address actually connected to (a name that resolves
 * elsewhere later cannot reach a private address). Names are resolved through an injected resolver, never real
 * DNS. Redirects are never followed.
 */
import { expect } from 'chai';
import { loadConfig } from '../../../api/config.js';
import { addressRefusal, type Resolver } from '../../../api/webhooks/url-policy.js';
import { eventually, sleep } from '../../support/assistant.js';
import { ADMIN_KEY, type Harness, SIGNING_KEY, startHarness } from '../../support/harness.js';
import {
  deliveries,
  FAST_DISPATCH,
  FAST_WEBHOOKS,
  LOOKBACK_MS,
  startReceiver,
  subscribe,
} from '../../support/webhooks.js';

const admin = `Bearer ${ADMIN_KEY}`;

describe('webhooks: address policy', () => {
  it('classifies private, loopback, link-local, unique-local, CGNAT and metadata addresses as refused', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '169.254.10.10',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd00:ec2::254',
      '::ffff:10.0.0.1',
      '::ffff:127.0.0.1',
      '224.0.0.1',
    ]) {
      expect(addressRefusal(address), address).to.be.a('string');
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) {
      expect(addressRefusal(address), address).to.equal(undefined);
    }
  });

  it('refuses private URLs by default in production only; WEBHOOKS_ALLOW_PRIVATE_URLS overrides either way', () => {
    const base = { TOKEN_SIGNING_KEY: SIGNING_KEY, DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' };
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).webhooks.allowPrivateUrls).to.equal(false);
    expect(loadConfig({ ...base, NODE_ENV: 'development' }).webhooks.allowPrivateUrls).to.equal(true);
    expect(
      loadConfig({ ...base, NODE_ENV: 'production', WEBHOOKS_ALLOW_PRIVATE_URLS: 'true' }).webhooks.allowPrivateUrls,
    ).to.equal(true);
    expect(
      loadConfig({ ...base, NODE_ENV: 'test', WEBHOOKS_ALLOW_PRIVATE_URLS: 'false' }).webhooks.allowPrivateUrls,
    ).to.equal(false);
    expect(() => loadConfig({ ...base, WEBHOOKS_ALLOW_PRIVATE_URLS: 'yes' })).to.throw(/WEBHOOKS_ALLOW_PRIVATE_URLS/);
    const defaults = loadConfig({ ...base, NODE_ENV: 'production' }).webhooks;
    expect(defaults).to.include({ timeoutMs: 10_000, retryBaseMs: 30_000 });
  });

  describe('in production', () => {
    let h: Harness;
    /** What names resolve to; a test changes it to play a DNS rebinding. */
    const names = new Map<string, string>();
    const resolve: Resolver = async (host) => {
      const address = names.get(host);
      if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return [{ address, family: address.includes(':') ? 6 : 4 }];
    };

    before(async () => {
      h = await startHarness({ ...FAST_WEBHOOKS, NODE_ENV: 'production' }, undefined, {
        webhooks: { ...FAST_DISPATCH, resolve },
      });
    });
    after(() => h.close());

    async function refused(url: string, code: string) {
      const res = await h
        .http()
        .post('/v1/webhooks')
        .set('authorization', admin)
        .send({ url, events: ['*'] });
      expect(res.status, `${url}: ${res.text}`).to.equal(400);
      expect(res.body.error.code, url).to.equal(code);
      expect(res.body.error.details[0].path).to.equal('body.url');
      return res;
    }

    it('refuses plain http, private and metadata addresses, and names that resolve to them', async () => {
      names.set('hooks.internal.example', '10.0.3.7');
      names.set('metadata.example', '169.254.169.254');
      names.set('v6.example', 'fd00:ec2::254');
      await refused('http://127.0.0.1:9/hook', 'webhook_url_not_https');
      await refused('http://tools.example.com/hook', 'webhook_url_not_https');
      await refused('https://127.0.0.1/hook', 'webhook_url_private');
      await refused('https://[::1]/hook', 'webhook_url_private');
      await refused('https://169.254.169.254/latest/meta-data', 'webhook_url_private');
      await refused('https://hooks.internal.example/hook', 'webhook_url_private');
      await refused('https://metadata.example/hook', 'webhook_url_private');
      await refused('https://v6.example/hook', 'webhook_url_private');
      await refused('https://nowhere.example/hook', 'webhook_url_unresolved');
      await refused('ftp://tools.example.com/hook', 'webhook_url_invalid');
    });

    it('refuses a change of URL to a private address', async () => {
      names.set('tools.example.com', '93.184.216.34');
      const sub = await subscribe(h, { url: 'https://tools.example.com/hook', events: ['ticket.created'] });
      const res = await h
        .http()
        .patch(`/v1/webhooks/${sub.webhook_id}`)
        .set('authorization', admin)
        .send({ url: 'https://10.0.0.8/hook' })
        .expect(400);
      expect(res.body.error.code).to.equal('webhook_url_private');
      await h.http().delete(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(204);
    });

    it('checks again at delivery time: a name that now resolves to a private address is never connected to', async () => {
      const receiver = await startReceiver();
      try {
        // Public when subscribed; then the name's answer switches to the loopback receiver (DNS rebinding).
        names.set('rebind.example', '93.184.216.34');
        const port = new URL(receiver.url).port;
        const sub = await subscribe(h, { url: `https://rebind.example:${port}/hook`, events: ['ticket.created'] });
        names.set('rebind.example', '127.0.0.1');
        const t = await h.ticket();
        const d = await eventually('a refused attempt', async () =>
          (await deliveries(h, sub.webhook_id)).find((x) => x.ticket_id === t.id && x.attempts === 1),
        );
        expect(d.error).to.match(/webhook_url_private/);
        expect(d.status_code).to.equal(null);
        expect(receiver.receipts).to.have.length(0);
        await h.http().delete(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(204);
      } finally {
        await receiver.close();
      }
    });
  });

  describe('outside production', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(FAST_WEBHOOKS, undefined, { webhooks: FAST_DISPATCH });
    });
    after(() => h.close());

    it('allows loopback receivers, and never follows a redirect', async () => {
      const target = await startReceiver();
      const redirecting = await startReceiver();
      try {
        redirecting.answer = () => ({ status: 307, headers: { location: target.url } });
        const sub = await subscribe(h, { url: redirecting.url, events: ['ticket.created'] });
        const t = await h.ticket();
        const d = await eventually('the redirected attempt', async () =>
          (await deliveries(h, sub.webhook_id)).find((x) => x.ticket_id === t.id && x.attempts === 1),
        );
        expect(d).to.include({ status_code: 307, error: 'redirect 307 not followed', state: 'pending' });
        await sleep(LOOKBACK_MS);
        expect(target.receipts).to.have.length(0);
        await h.http().delete(`/v1/webhooks/${sub.webhook_id}`).set('authorization', admin).expect(204);
      } finally {
        await Promise.all([target.close(), redirecting.close()]);
      }
    });
  });
});
