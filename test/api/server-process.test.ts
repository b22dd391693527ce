import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runService } from '../support/process.js';

describe('the service process', function () {
  this.timeout(60_000);
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'freeda-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts on the embedded engine, keeps its data across a restart, and shuts down gracefully on SIGTERM', async () => {
    const first = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '1500' }).ready;
    const adminKey = /Bootstrap admin key[^\n]*\n\s+(\S+)/.exec(first.stdout())?.[1] as string;
    expect(adminKey, 'the generated admin key is printed on first start').to.have.length.above(31);

    const created = await fetch(`${first.url}/v1/public/tickets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Survive a restart please' }),
    });
    expect(created.status).to.equal(201);
    const { ticket, access_token } = (await created.json()) as { ticket: { ticket_id: string }; access_token: string };
    const user = await fetch(`${first.url}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({ email: 'a@freeda.test', name: 'A', role: 'agent', password: 'a long enough passphrase' }),
    });
    expect(user.status).to.equal(201);

    // SIGTERM: readiness fails first while the listener still answers, then the process exits 0.
    first.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${first.url}/health/ready`)).status).to.equal(503);
    expect((await fetch(`${first.url}/health/live`)).status).to.equal(200);
    expect(await first.exited).to.equal(0);

    const second = await runService({ DATA_DIR: dataDir, SHUTDOWN_DELAY_MS: '0' }).ready;
    try {
      expect(second.stdout()).to.not.include(adminKey);
      const again = await fetch(`${second.url}/v1/public/tickets/${ticket.ticket_id}`, {
        headers: { authorization: `Bearer ${access_token}` },
      });
      expect(again.status).to.equal(200);
      expect(((await again.json()) as { messages: Array<{ content: string }> }).messages[0]?.content).to.equal(
        'Survive a restart please',
      );
      const login = await fetch(`${second.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'a@freeda.test', password: 'a long enough passphrase' }),
      });
      expect(login.status).to.equal(200);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).to.equal(0);
    }
  });

  it('refuses to start on invalid configuration with one line naming the variable, exit code 1', async () => {
    const run = runService({ DATA_DIR: dataDir, PORT: 'eighty' });
    run.ready.catch(() => undefined);
    expect(await run.exited).to.equal(1);
    const lines = run
      .stderr()
      .trim()
      .split('\n')
      .filter(
        (l) => !/NodeVersion|node >=22|^$|upgrade|a\.co|trace-warnings|versions published|security updates/.test(l),
      );
    expect(lines).to.deep.equal([
      'Invalid configuration: PORT: expected a whole number between 0 and 65535 (got "eighty")',
    ]);
  });

  it('refuses to start against an endpoint without tables, naming the command that creates them', async () => {
    const { sharedEngine } = await import('../support/engine.js');
    const engine = await sharedEngine();
    const run = runService({ DYNAMODB_ENDPOINT: engine.endpoint, TICKETS_TABLE: 'absent-table', DATA_DIR: dataDir });
    run.ready.catch(() => undefined);
    expect(await run.exited).to.equal(1);
    expect(run.stderr()).to.match(/tables absent-table.* do not exist .*npm run db:create-tables/);
  });
});
