// File helpers for commands: reads with errors that name the path, the project's one
// durable write (certs/durable-file.ts: a failure leaves the old file in place — "nothing
// lost on failure"), and the one way to write a secret.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileError, writeFileDurable } from '../../certs/durable-file.ts';

export { FileError, writeFileDurable };

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
 * atomic like writeFileDurable, and never over an existing file unless `force` — the file
 * there may be the only copy of a key that certificates or boards depend on.
 */
export function writeSecretFile(path: string, data: Uint8Array | string, opts: SecretWriteOptions = {}): void {
  try {
    writeFileDurable(path, data, { mode: 0o600, noClobber: opts.force !== true });
  } catch (e) {
    if (e instanceof FileError && e.code === 'io.exists') throw secretExists(path, e);
    throw e;
  }
}

/** Refuses up front, before a key is generated or a CA unlocked, when writeSecretFile would refuse. */
export function checkSecretTarget(path: string, opts: SecretWriteOptions = {}): void {
  if (opts.force !== true && existsSync(path)) throw secretExists(path);
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
