import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../api/config.js';

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
    });
    expect(c.rateLimits).to.include({ ticketsPerHour: 5, messagesPerMinute: 20 });
    expect(c.trustProxyHops).to.equal(0);
  });

  it('talks to an explicit endpoint when DYNAMODB_ENDPOINT is set, and to AWS in production', () => {
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' }).dynamo.mode).to.equal('endpoint');
    const prod = loadConfig({ NODE_ENV: 'production', TOKEN_SIGNING_KEY: 'x'.repeat(32), AWS_REGION: 'eu-west-3' });
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

  it('never repeats a secret in the error, even a wrong one', () => {
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
