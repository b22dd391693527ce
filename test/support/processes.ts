/** The process tree under a pid, read from /proc (Linux): which children a process left behind. */
import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields after the last ')' are fixed.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Every live process whose ancestry leads to `pid`. */
export function descendants(pid: number): number[] {
  const all = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length) {
    const next = all.filter((p) => frontier.includes(parentOf(p) as number));
    out.push(...next);
    frontier = next;
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead for every purpose here: it holds no port and no file.
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Waits until every pid is gone; rejects naming the survivors after `limitMs` (a generous bound, not a timing check). */
export async function gone(pids: number[], limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (pids.some(isAlive)) {
    if (Date.now() > end) throw new Error(`still running: ${pids.filter(isAlive).map(commandLine).join('; ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
