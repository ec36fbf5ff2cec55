// Canary for what provisioner/session/open-board-session.ts relies on inside esptool-js: its
// Transport keeps received bytes in a public-by-convention `buffer` field that the receive loop
// appends to and read() drains, and the ESP32 target sits at a deep import path. An upgrade
// that changes either must fail here, loudly, before it makes flashing silently slow or wrong.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transport } from 'esptool-js';
import { ESP32ROM } from 'esptool-js/lib/targets/esp32.js';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/lib/oracles.ts';

const PATCHED_FOR = '0.7.0';

describe('esptool-js canary (the patch in open-board-session.ts)', () => {
  it(`is pinned to exactly ${PATCHED_FOR}, and that is what is installed`, () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['esptool-js']).toBe(PATCHED_FOR);
    const installed = JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'esptool-js', 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(PATCHED_FOR);
  });

  it('keeps received bytes in an own `buffer` field that readLoop appends to and read() drains', () => {
    const device = { addEventListener() {}, removeEventListener() {}, getInfo: () => ({}) };
    const t = new Transport(device as unknown as ConstructorParameters<typeof Transport>[0], false);
    expect(Object.getOwnPropertyDescriptor(t, 'buffer')?.value).toBeInstanceOf(Uint8Array);
    const proto = Transport.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const readLoop = String(proto.readLoop);
    const read = String(proto.read);
    expect(readLoop).toContain('this.buffer = this.appendArray(this.buffer');
    expect(read).toContain('this.buffer.length > 0');
    expect(read).toContain('this.buffer = new Uint8Array(0)');
    expect(typeof proto.trace).toBe('function');
  });

  it('exports the ESP32 target at the deep path the session imports', () => {
    expect(new ESP32ROM().CHIP_NAME).toBe('ESP32');
  });
});
