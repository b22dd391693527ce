import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../api/config.js';

/** What `openssl rand -base64 48` prints. */
const REAL_KEY = 'q3Vd0yq8bD5m1x+7Zr9kGQ2wJtH4nS6pL0cE8aUfYiNoRbWvKzXjMhT1gP5sA3dC';
const OTHER_KEY = randomBytes(32).toString('hex');

describe('configuration', () => {
  it('runs on the embedded engine on port 3000 with nothing set', () => {
    const c = loadConfig({});
    expect(c.port).to.equal(3000);
    expect(c.dynamo.mode).to.equal('embedded');
    expect(c.tables).to.deep.equal({
      tickets: 'freeda-tickets',
      principals: 'freeda-principals',
      ratelimits: 'freeda-ratelimits',
      events: 'freeda-events',
      webhooks: 'freeda-webhooks',
    });
    expect(c.rateLimits).to.include({ ticketsPerHour: 5, messagesPerMinute: 20 });
    expect(c.trustProxyHops).to.equal(0);
    expect(c.reopenWindowDays).to.equal(7);
    expect(loadConfig({ REOPEN_WINDOW_DAYS: '30' }).reopenWindowDays).to.equal(30);
  });

  it('talks to an explicit endpoint when DYNAMODB_ENDPOINT is set, and to AWS in production', () => {
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' }).dynamo.mode).to.equal('endpoint');
    const prod = loadConfig({ NODE_ENV: 'production', TOKEN_SIGNING_KEY: REAL_KEY, AWS_REGION: 'eu-west-3' });
    expect(prod.dynamo.mode).to.equal('aws');
    expect(prod.trustProxyHops).to.equal(1);
    expect(prod.shutdownDelayMs).to.equal(5000);
  });

  for (const [env, pattern] of [
    [{ PORT: 'abc' }, /^Invalid configuration: PORT: /],
    [{ PORT: '70000' }, /^Invalid configuration: PORT: expected at most 65535/],
    [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL: /],
    [{ DYNAMODB_ENDPOINT: 'localhost' }, /^Invalid configuration: DYNAMODB_ENDPOINT: /],
    [{ TICKETS_TABLE: 'bad name!' }, /^Invalid configuration: TICKETS_TABLE: /],
    [{ CORS_ORIGINS: 'https://ok.example,https://bad.example/path' }, /^Invalid configuration: CORS_ORIGINS: /],
    [{ AWS_REGION: 'Paris' }, /^Invalid configuration: AWS_REGION: /],
    [{ NODE_ENV: 'production' }, /^Invalid configuration: TOKEN_SIGNING_KEY: required when NODE_ENV=production/],
    [{ TRUST_PROXY_HOPS: 'true' }, /^Invalid configuration: TRUST_PROXY_HOPS: /],
    [{ REOPEN_WINDOW_DAYS: 'a week' }, /^Invalid configuration: REOPEN_WINDOW_DAYS: expected a whole number/],
    [{ CORS_ORIGINS: '*' }, /^Invalid configuration: CORS_ORIGINS: expected an origin/],
    [{ CORS_ORIGINS: 'support.example.com' }, /^Invalid configuration: CORS_ORIGINS: expected an origin/],
    [{ CORS_ORIGINS: 'https://ok.example, *' }, /^Invalid configuration: CORS_ORIGINS: expected an origin/],
    [{ CORS_ORIGINS: 'ftp://files.example' }, /^Invalid configuration: CORS_ORIGINS: expected an origin/],
    [{ TOKEN_SIGNING_KEY: 'a'.repeat(32) }, /^Invalid configuration: TOKEN_SIGNING_KEY: is one short pattern repeated/],
    [{ TOKEN_SIGNING_KEY: 'changeme-changeme-changeme-changeme' }, /TOKEN_SIGNING_KEY: looks like a placeholder/],
    [{ BOOTSTRAP_ADMIN_KEY: 'CHANGEME-0123456789abcdef0123456789' }, /BOOTSTRAP_ADMIN_KEY: looks like a placeholder/],
    [{ TOKEN_SIGNING_KEY: '0123456789012345678901234567890123' }, /TOKEN_SIGNING_KEY: is one short pattern repeated/],
    [{ TOKEN_SIGNING_KEY: `${'a'.repeat(31)}b` }, /TOKEN_SIGNING_KEY: has too little entropy/],
    [{ TOKEN_SIGNING_KEY: 'abababababababababababababababab' }, /TOKEN_SIGNING_KEY: is one short pattern repeated/],
    [
      { TOKEN_SIGNING_KEY: REAL_KEY, BOOTSTRAP_ADMIN_KEY: REAL_KEY },
      /^Invalid configuration: BOOTSTRAP_ADMIN_KEY: must differ from TOKEN_SIGNING_KEY \(value hidden\)$/,
    ],
    [
      { NODE_ENV: 'production', TOKEN_SIGNING_KEY: REAL_KEY, TRUST_PROXY_HOPS: '0' },
      /^Invalid configuration: TRUST_PROXY_HOPS: 0 in production .* ALLOW_NO_PROXY=true/,
    ],
  ] as const) {
    it(`stops with one line naming the variable for ${JSON.stringify(env)}`, () => {
      expect(() => loadConfig(env as Record<string, string>)).to.throw(ConfigError, pattern);
      try {
        loadConfig(env as Record<string, string>);
      } catch (err) {
        expect((err as Error).message).to.not.include('\n');
      }
    });
  }

  it('accepts generated secrets, and 0 proxy hops in production when explicitly allowed', () => {
    for (const key of [REAL_KEY, OTHER_KEY, randomBytes(32).toString('base64url'), randomBytes(16).toString('hex')]) {
      expect(
        loadConfig({ TOKEN_SIGNING_KEY: key, BOOTSTRAP_ADMIN_KEY: REAL_KEY === key ? OTHER_KEY : REAL_KEY }),
      ).to.have.property('tokenSigningKey', key);
    }
    const direct = loadConfig({
      NODE_ENV: 'production',
      TOKEN_SIGNING_KEY: REAL_KEY,
      TRUST_PROXY_HOPS: '0',
      ALLOW_NO_PROXY: 'true',
    });
    expect(direct.trustProxyHops).to.equal(0);
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).corsOrigins).to.deep.equal([
      'https://a.example',
      'http://localhost:5173',
    ]);
  });

  it('never repeats a secret in the error, even a wrong one', () => {
    for (const weak of ['changeme-changeme-changeme-changeme', 'a'.repeat(40)]) {
      try {
        loadConfig({ TOKEN_SIGNING_KEY: weak });
        expect.fail('accepted');
      } catch (err) {
        expect((err as Error).message).to.not.include(weak);
        expect((err as Error).message).to.include('(value hidden)');
      }
    }
    expect(() => loadConfig({ BOOTSTRAP_ADMIN_KEY: 'tooshort-secret' })).to.throw(
      /BOOTSTRAP_ADMIN_KEY: expected at least 32 characters \(value hidden\)/,
    );
    try {
      loadConfig({ TOKEN_SIGNING_KEY: 'tooshort-secret' });
    } catch (err) {
      expect((err as Error).message).to.not.include('tooshort-secret');
    }
  });
});
