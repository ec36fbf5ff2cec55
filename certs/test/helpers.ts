// Shared test fixtures: temp directories, a fixed clock and seeded serials.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { initCa, type Ca } from '../index.ts';

export function tempDir(prefix = 'espfleet-certs-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A test passphrase made at run time (never a committed secret). */
export function testPassphrase(): string {
  return `test-${Math.random().toString(36).slice(2)}-${Date.now()}`;
}

export function seededRandom(seed: number): (n: number) => Uint8Array {
  const rng = new SeededRandom(seed);
  return (n) => rng.bytes(n);
}

export function fixedClock(iso: string): { clock: () => Date; set: (iso: string) => void } {
  let now = new Date(iso);
  return { clock: () => new Date(now), set: (t) => (now = new Date(t)) };
}

export function writeTemp(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/**
 * A fresh CA for one test file, created before its tests and removed after. The
 * getters read the values once beforeAll has run.
 */
export function caPerFile(): { readonly ca: Ca; readonly caDir: string; readonly tmp: string; readonly passphrase: string } {
  const tmp = tempDir();
  const passphrase = testPassphrase();
  let ca: Ca | undefined;
  const caDir = join(tmp.path, 'ca');
  beforeAll(async () => {
    ca = await initCa({ dir: caDir, passphrase });
  });
  afterAll(() => tmp.cleanup());
  return {
    get ca() {
      if (!ca) throw new Error('the CA is made in beforeAll; use it inside tests');
      return ca;
    },
    caDir,
    tmp: tmp.path,
    passphrase,
  };
}
