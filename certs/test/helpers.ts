// Shared test fixtures: temp directories, a fixed clock and seeded serials.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';

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
