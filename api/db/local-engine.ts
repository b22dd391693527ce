/**
 * The embedded DynamoDB-compatible engine (dynalite) for laptops and CI: runs inside the process on a
 * loopback port, persists under a directory (or in memory when none is given). dynalite is a development
 * dependency, loaded only here, so the production image does not carry it.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface LocalEngine {
  endpoint: string;
  close(): Promise<void>;
}

export async function startLocalEngine(options: { path?: string } = {}): Promise<LocalEngine> {
  let dynalite: typeof import('dynalite').default;
  try {
    dynalite = (await import('dynalite')).default;
  } catch {
    throw new Error('the embedded engine needs the dev dependency "dynalite": run `npm ci` (not --omit=dev)');
  }
  if (options.path) mkdirSync(options.path, { recursive: true, mode: 0o700 });
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // A malformed request must not take the host process down with it.
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
