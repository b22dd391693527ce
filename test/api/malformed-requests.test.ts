/** Requests Express's own layers reject before any route runs: a 4xx in the error shape, never a 500. */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { ADMIN_KEY, type Harness, startHarness } from '../support/harness.js';

describe('malformed requests', () => {
  let h: Harness;
  let port: number;
  let close: () => Promise<unknown>;

  before(async () => {
    h = await startHarness();
    const server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    close = () => new Promise((r) => server.close(r));
  });
  after(async () => {
    await close();
    await h.close();
  });

  /** Exact bytes on the wire: no client library fixing the path or the body on the way. */
  const raw = (method: string, path: string, headers: Record<string, string>, body?: Buffer) =>
    new Promise<{ status: number; body: { error: Record<string, unknown> }; requestId: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': String(body?.length ?? 0) } },
        (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text),
              requestId: String(res.headers['x-request-id']),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  for (const path of ['/v1/tickets/%', '/v1/tickets/%E0%A4%A', '/v1/public/tickets/%zz/messages']) {
    it(`answers 400 to a path parameter with broken percent-encoding (${path})`, async () => {
      const res = await raw('GET', path, { authorization: `Bearer ${ADMIN_KEY}` });
      expect(res.status).to.equal(400);
      expect(res.body.error).to.include({ code: 'invalid_request', request_id: res.requestId });
    });
  }

  for (const encoding of ['gzip', 'deflate', 'br']) {
    it(`answers 400 to a body that does not decompress as its Content-Encoding (${encoding}) says`, async () => {
      const res = await raw(
        'POST',
        '/v1/public/tickets',
        { 'content-type': 'application/json', 'content-encoding': encoding },
        Buffer.from('{"message":"not compressed at all"}'),
      );
      expect(res.status).to.equal(400);
      expect(res.body.error).to.include({ code: 'malformed_body', request_id: res.requestId });
    });
  }

  it('still reads a body that is compressed as it says', async () => {
    const res = await raw(
      'POST',
      '/v1/public/tickets',
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      gzipSync('{"message":"compressed on purpose"}'),
    );
    expect(res.status).to.equal(201);
  });
});
