/**
 * `/docs` in a real browser: headless Chromium (Debian's `chromium` package) loads the page from the service
 * on loopback, under the page's own Content-Security-Policy, and lists the operations of the document. Every
 * request the page makes must go to the service itself: it works without any network.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type BrowserContext, chromium } from 'playwright-core';
import { type Harness, startHarness } from '../support/harness.js';

const CHROMIUM = '/usr/bin/chromium';

describe('API reference page (/docs) in headless Chromium', () => {
  let h: Harness;
  let server: Server;
  let origin: string;
  let browser: BrowserContext;
  let profile: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium)`);
    }
    // Starting a browser on a busy machine can take a while; no assertion depends on how long.
    this.timeout(120_000);
    h = await startHarness();
    server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'freeda-chromium-'));
    // A fresh profile directory (Playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 110_000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  after(async () => {
    await browser?.close();
    if (server) await new Promise((r) => server.close(r));
    await h?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('lists every operation of the document, loading nothing from another origin and breaking no CSP rule', async function () {
    this.timeout(120_000);
    const doc = (await h.http().get('/openapi.json').expect(200)).body;
    const page = await browser.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));

    const res = await page.goto(`${origin}/docs`, { waitUntil: 'load', timeout: 60_000 });
    expect(res?.status()).to.equal(200);
    // The page's own policy: same origin only, no inline script, no upgrade of plain-HTTP assets.
    const csp = new Map(
      (res?.headers()['content-security-policy'] ?? '').split(';').map((d) => {
        const [name = '', ...values] = d.trim().split(/\s+/);
        return [name, values.join(' ')] as const;
      }),
    );
    expect(csp.get('script-src')).to.equal("'self'");
    expect(csp.get('connect-src')).to.equal("'self'");
    expect(csp.has('upgrade-insecure-requests')).to.equal(false);
    // Every other response keeps helmet's stricter default.
    const api = await h.http().get('/openapi.json').expect(200);
    expect(api.headers['content-security-policy']).to.include('upgrade-insecure-requests');

    // Each operation is shown by its summary, and its operationId (displayOperationId).
    await page.getByText('Open a ticket', { exact: true }).first().waitFor({ timeout: 60_000 });
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, what a person sees on the page
    const text = await page.locator('#reference').innerText();
    for (const item of Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>)) {
      for (const op of Object.values(item))
        expect(text, `operation ${op.operationId} listed`).to.include(op.operationId);
    }
    expect(text).to.include('Freeda support API');

    expect(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'))).to.deep.equal([]);
    expect(requests).to.include(`${origin}/openapi.json`);
    expect(problems).to.deep.equal([]);
    await page.close();
  });
});
