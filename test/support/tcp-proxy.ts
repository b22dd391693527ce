/**
 * A loopback TCP proxy in front of a dependency, to simulate its outages:
 *  - `forward()`: bytes flow both ways (the healthy state);
 *  - `refuse()`: the port stops listening and every open connection is cut (connection refused, reset);
 *  - `stall()`: connections are accepted and requests swallowed, nothing ever comes back (a hung endpoint);
 *  - `reset()`: every connection is accepted, then reset at once.
 * `forward()` again restores service on the same port, so the client under test needs no new configuration.
 * `dropAnswerTo(marker)`: the next request containing `marker` (e.g. an X-Amz-Target) reaches the target, and
 * its answer never comes back (a lost answer: the write happened, the client times out and retries).
 * `latencyMs` delays every answer, to keep requests in flight (a slow dependency).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type ProxyMode = 'forward' | 'stall' | 'refuse' | 'reset';

interface Link {
  client: Socket;
  upstream?: Socket;
  /** The answers on this connection are swallowed. */
  dropping?: boolean;
}

export class TcpProxy {
  private server: Server;
  private readonly links = new Set<Link>();
  private listening = false;
  mode: ProxyMode = 'forward';
  /** Added to every chunk flowing back from the target. */
  latencyMs = 0;
  /** Connections accepted since start (all modes but `refuse`). */
  accepted = 0;
  /** Requests forwarded whose answer was dropped. */
  droppedAnswers = 0;
  private dropMarker: string | undefined;
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = this.newServer();
  }

  static async start(target: string, { latencyMs = 0 }: { latencyMs?: number } = {}): Promise<TcpProxy> {
    const url = new URL(target);
    const proxy = new TcpProxy(url.hostname, Number(url.port));
    proxy.latencyMs = latencyMs;
    await proxy.listen(0);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get openConnections(): number {
    return this.links.size;
  }

  private newServer(): Server {
    const server = createServer((client) => this.onConnection(client));
    server.on('error', () => undefined);
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as { port: number }).port;
        this.listening = true;
        resolve();
      });
    });
  }

  private onConnection(client: Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client };
    this.links.add(link);
    client.on('close', () => {
      this.links.delete(link);
      link.upstream?.end();
    });
    if (this.mode === 'stall') {
      client.on('data', () => undefined); // read and drop: the request is "received" and never answered
      return;
    }
    const upstream = tcpConnect(this.targetPort, this.targetHost);
    link.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    client.on('data', (chunk: Buffer) => {
      if (this.dropMarker && chunk.includes(this.dropMarker)) {
        this.dropMarker = undefined;
        this.droppedAnswers++;
        link.dropping = true;
      }
    });
    if (this.latencyMs > 0) {
      // Same delay for every chunk: timers fire in order, so the byte stream keeps its order.
      upstream.on('data', (chunk) =>
        setTimeout(() => link.upstream === upstream && !link.dropping && client.write(chunk), this.latencyMs),
      );
    } else {
      upstream.on('data', (chunk) => {
        if (!link.dropping) client.write(chunk);
      });
    }
  }

  /** Detaches a link from its upstream without resetting the upstream side (the engine sees a clean close). */
  private detach(link: Link): void {
    if (link.upstream) {
      link.client.unpipe(link.upstream);
      link.upstream.unpipe(link.client);
      link.upstream.removeAllListeners('data');
      link.upstream.removeAllListeners('close');
      link.upstream.on('error', () => undefined);
      link.upstream.end();
      link.upstream = undefined;
    }
  }

  /** The next request containing `marker` is delivered, and its answer dropped (one request only). */
  dropAnswerTo(marker: string): void {
    this.dropMarker = marker;
  }

  /** Accepts and swallows: requests on new and already open connections never get an answer. */
  stall(): void {
    this.mode = 'stall';
    for (const link of this.links) {
      this.detach(link);
      link.client.on('data', () => undefined);
    }
  }

  /** Stops listening (connection refused) and cuts every open connection. */
  async refuse(): Promise<void> {
    this.mode = 'refuse';
    for (const link of this.links) {
      this.detach(link);
      link.client.destroy();
    }
    if (this.listening) {
      this.listening = false;
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
  }

  /** Accepts, then resets every connection, new or open. */
  reset(): void {
    this.mode = 'reset';
    for (const link of this.links) {
      this.detach(link);
      link.client.resetAndDestroy();
    }
  }

  /** Back to normal on the same port. Connections held during a stall are closed (their requests are lost). */
  async forward(): Promise<void> {
    for (const link of this.links) {
      if (!link.upstream) link.client.destroy();
    }
    this.mode = 'forward';
    if (!this.listening) {
      this.server = this.newServer();
      await this.listen(this.port);
    }
  }

  async close(): Promise<void> {
    await this.refuse();
  }
}
