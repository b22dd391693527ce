/** Runs the real service entry (api/server.ts) as a child process and reads what it prints. */
import { type ChildProcess, spawn } from 'node:child_process';

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Services still running when the test process ends (a test failed before stopping its own) are killed. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `nodeArgs`: options for node before the entry (e.g. `--import` of a test's fault injector). */
export function runService(
  env: Record<string, string>,
  { nodeArgs = [] }: { nodeArgs?: string[] } = {},
): {
  child: ChildProcess;
  ready: Promise<ServiceProcess>;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, 'api/server.ts'], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  let err = '';
  let listening = false;
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<ServiceProcess>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d;
      // Searched only until found: under load the output grows by megabytes, and scanning it on every
      // chunk would make this process, not the service, the bottleneck.
      if (listening) return;
      const m =
        /"message":"listening","port":(\d+)|"port":(\d+)[^\n]*"message":"listening"|"message":"listening"[^\n]*"port":(\d+)/.exec(
          out,
        );
      const port = Number(m?.[1] ?? m?.[2] ?? m?.[3]);
      if (port) {
        listening = true;
        resolve({ child, port, url: `http://127.0.0.1:${port}`, stdout: () => out, stderr: () => err, exited });
      }
    });
    exited.then((code) => reject(new Error(`service exited with ${code} before listening: ${err}`)));
  });
  return { child, ready, exited, stdout: () => out, stderr: () => err };
}
