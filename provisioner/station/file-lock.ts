// An exclusive lock beside a file the station rewrites (the registry, the audit log), so two
// espfleet processes on one station never write it at once: `<file>.lock` is created with
// O_EXCL and holds who took it (pid, host, command, start time). A lock whose process is
// gone (same host, pid not running) is stale and broken; a live holder is waited for, then
// named in the error.
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { EspfleetError } from '../../firmware-js/errors.ts';

export class LockError extends EspfleetError {}

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
}

export interface LockOptions {
  /** How long to wait for a live holder before giving up (ms). */
  timeoutMs?: number;
  /** Used in messages: "registry", "audit log". */
  what?: string;
  /** The error code when the lock stays taken. */
  code?: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** A `.break` file older than this was left by a process that died while breaking a stale lock. */
const BREAK_STALE_MS = 10_000;

export function lockPath(path: string): string {
  return `${path}.lock`;
}

function me(): LockHolder {
  return { pid: process.pid, host: hostname(), command: process.argv.slice(1).join(' ').slice(0, 300), startedAt: new Date().toISOString() };
}

function readHolder(path: string): LockHolder | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'unreadable';
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string') return { pid: h.pid, host: h.host, command: String(h.command ?? '?'), startedAt: String(h.startedAt ?? '?') };
  } catch {
    // a holder that died between create and write leaves an empty file: judged by age below
  }
  return 'unreadable';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** A lock is stale when its holder ran on this host and is no longer running (or left it unreadable long ago). */
function stale(holder: LockHolder | 'unreadable', path: string): boolean {
  if (holder === 'unreadable') return ageMs(path) > BREAK_STALE_MS;
  return holder.host === hostname() && holder.pid !== process.pid && !alive(holder.pid);
}

/** Removes a stale lock; a second O_EXCL file makes sure only one process breaks it, and only the stale one. */
function breakStale(path: string, seen: string): void {
  const breaker = `${path}.break`;
  if (ageMs(breaker) > BREAK_STALE_MS) rmSync(breaker, { force: true });
  let fd: number;
  try {
    fd = openSync(breaker, 'wx', 0o644);
  } catch {
    return; // someone else is breaking it
  }
  try {
    let now: string | undefined;
    try {
      now = readFileSync(path, 'utf8');
    } catch {
      now = undefined;
    }
    if (now === seen) rmSync(path, { force: true });
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}

/** One attempt: the release function, or who holds the lock. */
function tryLock(path: string): (() => void) | LockHolder | 'unreadable' {
  const lock = lockPath(path);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o644);
      const holder = me();
      try {
        writeSync(fd, `${JSON.stringify(holder)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(lock, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LockError('station.lock.failed', `cannot create the lock ${lock}: ${(e as Error).message}`, { cause: e });
      }
    }
    let seen: string;
    try {
      seen = readFileSync(lock, 'utf8');
    } catch {
      continue; // released meanwhile: try again
    }
    const holder = readHolder(lock);
    if (holder === 'gone') continue;
    if (!stale(holder, lock)) return holder;
    breakStale(lock, seen);
  }
  const holder = readHolder(lock);
  return holder === 'gone' ? 'unreadable' : holder;
}

function refused(path: string, holder: LockHolder | 'unreadable', opts: LockOptions, waitedMs: number): LockError {
  const what = opts.what ?? 'file';
  const who =
    holder === 'unreadable'
      ? 'a process that left no readable owner'
      : `pid ${holder.pid} on ${holder.host} (${holder.command}) since ${holder.startedAt}`;
  return new LockError(opts.code ?? 'station.lock.held', `the ${what} ${path} is locked by ${who}; waited ${Math.round(waitedMs / 1000)} s`, {
    hint:
      holder !== 'unreadable' && holder.host !== hostname()
        ? `another host is writing it; if that process is gone, remove ${lockPath(path)}`
        : `wait for that espfleet to finish; if it is gone, remove ${lockPath(path)}`,
  });
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `fn` holding the lock on `path`, waiting (asynchronously) for another holder up to
 * the timeout. Keep `fn` synchronous where possible: the lock is then never held across
 * an await, so other work in this process is not held up by it.
 */
export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const start = Date.now();
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const got = tryLock(path);
    if (typeof got === 'function') {
      try {
        return await fn();
      } finally {
        got();
      }
    }
    if (Date.now() - start >= timeout) throw refused(path, got, opts, Date.now() - start);
    await pause(delay + Math.floor(Math.random() * delay));
  }
}

/** Who holds the lock on `path` now, if anyone (for messages and tests). */
export function lockHolder(path: string): LockHolder | undefined {
  const h = readHolder(lockPath(path));
  return typeof h === 'object' ? h : undefined;
}
