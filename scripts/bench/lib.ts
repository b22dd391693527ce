/**
 * Shared by the HTTP benchmarks: the machine they ran on, servers started as child processes (so the load
 * generator never shares their event loop), autocannon runs reduced to the figures the docs report.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

export const ROOT = join(import.meta.dirname, '..', '..');

export function machine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const ram = Math.round(os.totalmem() / 2 ** 30);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  return `${cpu}, ${os.cpus().length} vCPUs, ${ram} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}; load average at start ${load}`;
}

export function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

export interface ChildServer {
  child: ChildProcess;
  url: string;
  stop(): Promise<number | null>;
}

/**
 * Starts a server process and waits until `readyPath` answers 200. Its stdout goes to /dev/null, as a
 * container's log driver would take it, without this process paying for reading it.
 */
export async function startServer(
  args: string[],
  env: Record<string, string>,
  { port, readyPath = '/health/ready', timeoutMs = 30_000 }: { port: number; readyPath?: string; timeoutMs?: number },
): Promise<ChildServer> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`server not ready after ${timeoutMs} ms: ${stderr}`);
    const ok = await fetch(`${url}${readyPath}`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** CPU time (user + system) a process has used so far, in milliseconds (Linux). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

export interface Figures {
  rps: number;
  mean: number;
  /** CPU use of the watched processes during the run, in % of one core each. */
  cpuPercent?: number[];
  /** Server CPU per answered request, in microseconds (when the server's pid is given). */
  cpuUs?: number;
  p50: number;
  p97_5: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

/** One autocannon run; `pid`: CPU per request of that server; `watch`: CPU % of these processes. */
export async function load({
  pid,
  watch = [],
  ...options
}: Omit<autocannon.Options, 'url'> & { url: string; pid?: number; watch?: number[] }): Promise<Figures> {
  const before = pid ? cpuMs(pid) : 0;
  const watchedBefore = watch.map(cpuMs);
  const started = performance.now();
  const result = await autocannon({ pipelining: 1, ...options });
  const elapsed = performance.now() - started;
  const cpu = pid ? cpuMs(pid) - before : 0;
  return {
    rps: result.requests.average,
    mean: result.latency.mean,
    ...(pid && { cpuUs: (cpu * 1000) / Math.max(1, result.requests.total) }),
    ...(watch.length && {
      cpuPercent: watch.map((p, i) => Math.round(((cpuMs(p) - (watchedBefore[i] as number)) / elapsed) * 100)),
    }),
    p50: result.latency.p50,
    p97_5: result.latency.p97_5,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
};

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
