// File helpers for commands: read with errors that name the path, and durable
// atomic writes (temp file, fsync, rename, fsync dir) so a failure leaves the old
// file in place — "nothing lost on failure".
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EspfleetError } from '../../firmware-js/errors.ts';

export class FileError extends EspfleetError {}

export function readInputFile(path: string, what = 'file'): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileError(
      code === 'ENOENT' ? 'io.not_found' : 'io.read_failed',
      `cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      { cause: e },
    );
  }
}

export interface AtomicWriteOptions {
  /** File mode for the new file, e.g. 0o600 for anything secret. */
  mode?: number;
}

export function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions & { noClobber?: boolean } = {}): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = openSync(temp, 'wx', opts.mode ?? 0o644);
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.noClobber) {
      // link() fails with EEXIST instead of replacing: no window in which another file is lost.
      linkSync(temp, path);
      rmSync(temp, { force: true });
    } else {
      renameSync(temp, path);
    }
    syncDirectory(dir);
  } catch (e) {
    rmSync(temp, { force: true });
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw secretExists(path, e);
    throw new FileError('io.write_failed', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export interface SecretWriteOptions {
  /** Replace an existing file (the caller's --force). */
  force?: boolean;
}

function secretExists(path: string, cause?: unknown): FileError {
  return new FileError('io.exists', `refusing to overwrite ${path}, which may be the only copy of a private key: it already exists`, {
    hint: 'choose another path, or move the file away first; --force replaces it (the old key is then gone for good)',
    ...(cause ? { cause } : {}),
  });
}

/**
 * The one way commands write a secret (a private key, a key file): mode 0600, durable and
 * atomic like writeFileAtomic, and never over an existing file unless `force` — the file
 * there may be the only copy of a key that certificates or boards depend on.
 */
export function writeSecretFile(path: string, data: Uint8Array | string, opts: SecretWriteOptions = {}): void {
  writeFileAtomic(path, data, { mode: 0o600, noClobber: opts.force !== true });
}

/** Refuses up front, before a key is generated or a CA unlocked, when writeSecretFile would refuse. */
export function checkSecretTarget(path: string, opts: SecretWriteOptions = {}): void {
  if (opts.force !== true && existsSync(path)) throw secretExists(path);
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems cannot fsync a directory; the rename is still atomic.
  }
}

/** A directory's contents: '/'-separated paths relative to the root, sorted. */
export interface DirectoryTree {
  files: Array<{ path: string; data: Uint8Array }>;
  dirs: string[];
}

export function readDirectoryTree(root: string): DirectoryTree {
  const tree: DirectoryTree = { files: [], dirs: [] };
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const path = join(abs, name);
      const relPath = rel ? `${rel}/${name}` : name;
      if (statSync(path).isDirectory()) {
        tree.dirs.push(relPath);
        walk(path, relPath);
      } else {
        tree.files.push({ path: relPath, data: new Uint8Array(readFileSync(path)) });
      }
    }
  };
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
    walk(root, '');
  } catch (e) {
    throw new FileError('io.read_failed', `cannot read directory ${root}: ${(e as Error).message}`, {
      cause: e,
      hint: 'give the folder whose contents go into the image, e.g. agent/fs',
    });
  }
  return tree;
}
