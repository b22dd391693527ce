import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runService, type ServiceProcess } from '../support/process.js';

/** Resolves with what the server sent once it closed the socket (bounded by `limitMs`, generously). */
function whenClosed(socket: Socket, limitMs = 60_000): Promise<{ closed: boolean; received: string }> {
  let received = '';
  socket.on('data', (d) => {
    received += d;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ closed: false, received }), limitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received });
    });
    socket.on('error', () => undefined);
  });
}

describe('HTTP server limits (the real service process)', () => {
  let base: string;
  let dataDir: string;
  let service: ServiceProcess;
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'freeda-http-'));
    dataDir = join(base, 'data');
    // The deadline is set low to prove the mechanism; production's default is 30 s.
    service = await runService({ DATA_DIR: dataDir, REQUEST_TIMEOUT_MS: '1500', MAX_CONNECTIONS: '4' }).ready;
  });
  after(async () => {
    service.child.kill('SIGTERM');
    await service.exited;
    rmSync(base, { recursive: true, force: true });
  });

  it('listens on loopback only unless HOST says otherwise', () => {
    const line = service
      .stdout()
      .split('\n')
      .find((l) => l.includes('"message":"listening"'));
    expect(JSON.parse(line ?? '{}').host).to.equal('127.0.0.1');
  });

  it('creates its data directory readable by its owner only', () => {
    expect(statSync(dataDir).mode & 0o777).to.equal(0o700);
  });

  it('cuts a request whose body trickles in slower than the request deadline, with 408', async () => {
    const socket = connect(service.port, '127.0.0.1');
    const outcome = whenClosed(socket);
    socket.write(
      'POST /v1/public/tickets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
        'Content-Length: 200\r\n\r\n{',
    );
    let sent = 1;
    const trickle = setInterval(() => {
      if (socket.writable && sent < 199) {
        socket.write(' ');
        sent++;
      }
    }, 250);
    const { closed, received } = await outcome;
    clearInterval(trickle);
    expect(closed, 'the server closed the connection').to.equal(true);
    expect(sent, 'the body was still incomplete').to.be.lessThan(199);
    expect(received).to.match(/^HTTP\/1\.1 408/);
  }).timeout(90_000);

  it('closes connections beyond MAX_CONNECTIONS at once, and serves again once there is room', async () => {
    const held = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect(service.port, '127.0.0.1', () => resolve(s));
            s.on('error', () => undefined);
          }),
      ),
    );
    // A request on an accepted socket makes sure the server counted them all.
    const extra = connect(service.port, '127.0.0.1');
    const refused = whenClosed(extra);
    extra.on('connect', () => extra.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    const { closed, received } = await refused;
    expect(closed).to.equal(true);
    expect(received).to.equal('');
    for (const s of held) s.destroy();
    let answer: Response | undefined;
    for (let i = 0; i < 50 && !answer?.ok; i++) {
      answer = await fetch(`${service.url}/health/live`).catch(() => undefined);
      if (!answer?.ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(answer?.status).to.equal(200);
  });
});
