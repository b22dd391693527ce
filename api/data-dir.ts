/**
 * The local data directory (DATA_DIR): checked writable at start, and held by one process at a time through
 * a lock file carrying the owner's pid. A lock whose process is gone (a crash, a SIGKILL) is stale and taken
 * over; one whose process lives stops the second process with one line naming it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StartupError } from './startup-error.js';

export const LOCK_FILE = 'freeda.lock';

export interface DataDirLock {
  path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unwritable(dataDir: string, err: NodeJS.ErrnoException): StartupError {
  return new StartupError(
    `DATA_DIR ${resolve(dataDir)} is not writable (${err.code ?? err.message}): ` +
      'set DATA_DIR to a directory this user can write',
  );
}

/** Creates the directory if needed and takes its lock; throws a StartupError naming the problem. */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  try {
    // Owner only: it holds the local keys and the local database.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unwritable(dataDir, err as NodeJS.ErrnoException);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path);
        } catch {
          // already removed
        }
      };
      process.on('exit', release);
      return { path, release };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw unwritable(dataDir, err as NodeJS.ErrnoException);
    }
    const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new StartupError(
        `DATA_DIR ${resolve(dataDir)} is in use by process ${owner}: stop it, or set DATA_DIR to another directory ` +
          `(if no such process is yours, delete ${resolve(path)})`,
      );
    }
    // Stale: its owner is gone. Removed, then taken again with 'wx', so two starters cannot both win.
    rmSync(path, { force: true });
  }
  throw new StartupError(`could not take the lock ${resolve(path)}: another process keeps taking it`);
}
