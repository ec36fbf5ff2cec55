// Espressif's esptool 5.6 drives the virtual ESP32 unchanged over RFC 2217: detection, MAC,
// flash id, writes through the ROM, the default stub (esp-flasher-stub) and the legacy stub,
// verification, reads and erases. Each test has its own board, so they run side by side.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { clean, serveBoard } from './helpers/served-board.ts';

const dir = mkdtempSync(join(tmpdir(), 'hil-esptool-'));
function file(name: string, data: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
/** Half random, half repeated text: compresses, so the deflate path carries real savings. */
function compressible(seed: number, size: number): Uint8Array {
  const out = new SeededRandom(seed).bytes(size);
  const text = new TextEncoder().encode('espfleet virtual esp32 ');
  for (let i = size / 2; i < size; i++) out[i] = text[i % text.length] ?? 0;
  return out;
}

describe.concurrent('esptool over rfc2217 against the virtual ESP32', () => {
  it('chip-id detects an ESP32 v3.0 and reports our MAC; flash-id gives the JEDEC id and size', async () => {
    const board = await serveBoard({ name: 'id', mac: '24:0a:c4:12:34:56', revision: 3, flashSize: '16MB' });
    try {
      const id = await board.esptool(['chip-id']);
      expect(id.code, clean(id)).toBe(0);
      expect(id.stdout).toContain('Detecting chip type... ESP32');
      expect(id.stdout).toMatch(/Chip type:\s+ESP32-D0WDQ6-V3 \(revision v3\.0\)/);
      expect(id.stdout).toMatch(/Crystal frequency:\s+40MHz/);
      expect(id.stdout).toMatch(/MAC:\s+24:0a:c4:12:34:56/);
      expect(clean(id)).toContain('ESP32 has no chip ID');
      const flash = await board.esptool(['flash-id']);
      expect(flash.code, clean(flash)).toBe(0);
      expect(flash.stdout).toMatch(/Manufacturer: ef\s/);
      expect(flash.stdout).toMatch(/Device: 4018\s/);
      expect(flash.stdout).toMatch(/Detected flash size: 16MB/);
      expect(board.chip.stubsStarted).toEqual([
        'esp-flasher-stub (esptool stub_flasher/2, esptool-js 0.7)',
        'esp-flasher-stub (esptool stub_flasher/2, esptool-js 0.7)',
      ]);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('read-mac on a revision 1 chip (v1.0, rev bits kept consistent for both decoders)', async () => {
    const board = await serveBoard({ name: 'v1', mac: 'c8:f0:9e:b1:82:78', revision: 1, flashSize: '8MB' });
    try {
      const r = await board.esptool(['read-mac']);
      expect(r.code, clean(r)).toBe(0);
      expect(r.stdout).toMatch(/Chip type:\s+ESP32-D0WDQ6 \(revision v1\.0\)/);
      expect(r.stdout.match(/MAC:\s+c8:f0:9e:b1:82:78/g)?.length).toBe(2);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('write-flash with the default stub and compression, then verify-flash; a changed byte fails verification', async () => {
    const board = await serveBoard({ name: 'defl' });
    try {
      const image = compressible(11, 192 * 1024);
      const path = file('defl.bin', image);
      const w = await board.esptool(['write-flash', '0x20000', path]);
      expect(w.code, clean(w)).toBe(0);
      expect(w.stdout).toMatch(/Wrote 196608 bytes \(\d+ compressed\) at 0x00020000/);
      expect(w.stdout).toContain('Hash of data verified.');
      expect(same(board.chip.flash.read(0x20000, image.length), image)).toBe(true);
      const v = await board.esptool(['verify-flash', '0x20000', path]);
      expect(v.code, clean(v)).toBe(0);
      expect(v.stdout).toMatch(/Verification successful|digest matched/i);
      board.chip.flash.bytes[0x20000 + 5000] = (image[5000] ?? 0) ^ 0x01;
      const bad = await board.esptool(['verify-flash', '0x20000', path]);
      expect(bad.code).not.toBe(0);
      expect(clean(bad)).toMatch(/Verification failed/);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('write-flash --no-stub goes through the ROM (1 KiB blocks, 32-hex MD5) and leaves the loader in ROM mode', async () => {
    const board = await serveBoard({ name: 'rom', revision: 1 });
    try {
      const image = new SeededRandom(3).bytes(20_000);
      const w = await board.esptool(['--no-stub', 'write-flash', '0x10000', file('rom.bin', image)]);
      expect(w.code, clean(w)).toBe(0);
      expect(w.stdout).toMatch(/Took [\d.]+s to erase flash block/);
      expect(w.stdout).toContain('Hash of data verified.');
      expect(board.chip.stubsStarted).toEqual([]);
      expect(same(board.chip.flash.read(0x10000, image.length), image)).toBe(true);
      // The ROM pads the last 1 KiB block with 0xFF and erased the whole 4 KiB sectors first.
      expect(board.chip.flash.read(0x10000 + image.length, 0x15000 - 0x10000 - image.length).every((b) => b === 0xff)).toBe(true);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('write-flash --no-compress with the legacy stub (--stub-version 1)', async () => {
    const board = await serveBoard({ name: 'legacy' });
    try {
      const image = new SeededRandom(5).bytes(40_000);
      const w = await board.esptool(['--stub-version', '1', 'write-flash', '--no-compress', '0x9000', file('legacy.bin', image)]);
      expect(w.code, clean(w)).toBe(0);
      expect(w.stdout).toMatch(/Wrote 40000 bytes at 0x00009000/);
      expect(w.stdout).toContain('Hash of data verified.');
      expect(board.chip.stubsStarted).toEqual(['legacy stub (esptool stub_flasher/1)']);
      expect(same(board.chip.flash.read(0x9000, image.length), image)).toBe(true);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('read-flash round-trips 1 MiB of random data written with write-flash', async () => {
    const board = await serveBoard({ name: 'rt' });
    try {
      const image = new SeededRandom(1234).bytes(1 << 20);
      const w = await board.esptool(['write-flash', '0x100000', file('rt.bin', image)]);
      expect(w.code, clean(w)).toBe(0);
      const out = join(dir, 'rt-back.bin');
      const r = await board.esptool(['read-flash', '0x100000', String(1 << 20), out]);
      expect(r.code, clean(r)).toBe(0);
      expect(r.stdout).toMatch(/Read 1048576 bytes from 0x00100000/);
      expect(same(new Uint8Array(readFileSync(out)), image)).toBe(true);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('erase-region and erase-flash read back as 0xFF', async () => {
    const board = await serveBoard({ name: 'erase' });
    try {
      board.chip.flash.program(0, new SeededRandom(9).bytes(0x40000));
      const er = await board.esptool(['erase-region', '0x10000', '0x2000']);
      expect(er.code, clean(er)).toBe(0);
      expect(er.stdout).toMatch(/erased successfully/);
      const out = join(dir, 'erased.bin');
      const r = await board.esptool(['read-flash', '0xf000', '0x4000', out]);
      expect(r.code, clean(r)).toBe(0);
      const back = new Uint8Array(readFileSync(out));
      expect(back.subarray(0x1000, 0x3000).every((b) => b === 0xff)).toBe(true);
      // The sectors around the region keep their data.
      expect(back.subarray(0, 0x1000).every((b) => b === 0xff)).toBe(false);
      expect(back.subarray(0x3000).every((b) => b === 0xff)).toBe(false);
      const ef = await board.esptool(['erase-flash']);
      expect(ef.code, clean(ef)).toBe(0);
      expect(ef.stdout).toMatch(/Flash memory erased successfully/);
      expect(board.chip.flash.bytes.every((b) => b === 0xff)).toBe(true);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('a chip with another detect magic is refused', async () => {
    const board = await serveBoard({ name: 'alien', chipMagic: 0x12345678 });
    try {
      const r = await board.esptool(['--connect-attempts', '1', 'chip-id']);
      expect(r.code).not.toBe(0);
      expect(clean(r)).toMatch(/Unexpected chip magic value 0x12345678/);
    } finally {
      await board.close();
    }
  }, 170_000);
});
