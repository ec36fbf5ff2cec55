// The one crash-safe file writer of the project (certs, provisioner and the virtual board use
// it): write a temp file, fsync it, rename (or link, to never replace) over the target, fsync
// the directory. A crash at any point leaves either the old or the new file, never half.
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { EspfleetError } from '../firmware-js/errors.ts';

/** File errors of every layer: `io.*` codes with the path in the message. */
export class FileError extends EspfleetError {}

/** Fault injection for tests: a hook that throws here behaves like a crash (the temp file stays). */
export interface DurableWriteHooks {
  beforeRename?: (tempPath: string, finalPath: string) => void;
}

export interface DurableWriteOptions {
  /** File mode for the new file, e.g. 0o600 for anything secret. */
  mode?: number;
  /** Never replace an existing file: fail with `io.exists` instead (link(), so no window). */
  noClobber?: boolean;
  hooks?: DurableWriteHooks;
}

export function writeFileDurable(path: string, data: Uint8Array | string, opts: DurableWriteOptions = {}): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = openSync(temp, 'wx', opts.mode ?? 0o644);
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(temp, { force: true });
    throw writeError(path, e);
  }
  opts.hooks?.beforeRename?.(temp, path);
  try {
    if (opts.noClobber) {
      linkSync(temp, path);
      rmSync(temp, { force: true });
    } else {
      renameSync(temp, path);
    }
  } catch (e) {
    rmSync(temp, { force: true });
    throw writeError(path, e);
  }
  syncDirectory(dir);
}

export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems cannot fsync a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeError(path: string, e: unknown): FileError {
  if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
    return new FileError('io.exists', `cannot write ${path}: it already exists`, { hint: 'choose another path, or move the file away first', cause: e });
  }
  return new FileError('io.write_failed', `cannot write ${path}: ${(e as Error).message}`, {
    hint: 'check free space and permissions of the directory',
    cause: e,
  });
}
