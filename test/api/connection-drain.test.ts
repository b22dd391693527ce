import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { expect } from 'chai';
import { connectionDrain, type Drain } from '../../api/http/connection-drain.js';

/** Raw HTTP/1.1 over one socket, to see exactly what the server does with the connection. */
function rawClient(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => {
    received += d;
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => undefined);
  return {
    send: (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
    received: () => received,
    closed,
    socket,
  };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('connection draining at shutdown', () => {
  let server: Server;
  let drain: Drain;
  let port: number;
  const handled: string[] = [];
  let release: (() => void) | undefined;

  beforeEach(async () => {
    handled.length = 0;
    drain = connectionDrain((req: IncomingMessage, res: ServerResponse) => {
      handled.push(req.url ?? '');
      const answer = () => res.end('ok');
      if (req.url === '/slow') release = answer;
      else answer();
    });
    server = createServer(drain.listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as { port: number }).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('keeps connections alive until draining starts, then closes each one after its answer', async () => {
    const client = rawClient(port);
    client.send('/one');
    await until(() => client.received().includes('ok'));
    expect(client.received()).to.match(/Connection: keep-alive/i);

    drain.start();
    client.send('/two');
    await client.closed;
    expect(handled).to.deep.equal(['/one', '/two']);
    expect(client.received().split('HTTP/1.1 200').length - 1).to.equal(2);
    expect(client.received()).to.match(/Connection: close\r\n[\s\S]*ok$/i);
  });

  it('marks the answer of a request already in progress when draining starts', async () => {
    const client = rawClient(port);
    client.send('/slow');
    await until(() => release !== undefined);
    drain.start();
    release?.();
    await client.closed;
    expect(client.received()).to.match(/Connection: close/i);
  });

  it('never runs a request that arrives on a connection the server has already ended', async () => {
    drain.start();
    const sockets: Socket[] = [];
    server.on('connection', (s) => sockets.push(s));
    const late = rawClient(port);
    await until(() => sockets.length === 1);
    // What a graceful close does to an idle connection (stoppable, under terminus): the server ends its side.
    // A request the client writes at that moment is still readable by the server; it must not be executed,
    // since its answer could never be delivered.
    sockets[0]?.end();
    late.send('/late');
    await late.closed;
    expect(handled).to.deep.equal([]);
    expect(late.received()).to.equal('');
  });
});
