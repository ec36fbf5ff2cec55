// esptool write-flash under stress on the virtual ESP32: a power cut mid-write that a second run
// repairs, and `--encrypt` writes through the flash-encryption engine that the chip then boots
// (spec esp32-rom-efuse-crypto.md §1.10, §5.5). Tests run side by side, each on its own board.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { encryptFlash, padForEncryption } from '../../firmware-js/flash-encryption/index.ts';
import { clean, serveBoard } from './helpers/served-board.ts';
import { encryptedChipEfuses, firmwareSet } from './helpers/firmware-set.ts';

describe.concurrent('write-flash scenarios', () => {
  it('power loss mid write-flash keeps what was written, stops answering, and a second run repairs it', async () => {
    const board = await serveBoard({ name: 'brownout', powerLoss: { atCommand: 'FLASH_DEFL_DATA', occurrence: 4 } });
    try {
      const rng = new SeededRandom(77);
      // Random first half (16 KiB compressed blocks carry ~16 KiB), compressible tail so esptool deflates.
      const image = rng.bytes(160 * 1024);
      image.fill(0x5a, 80 * 1024);
      const path = join(mkdtempSync(join(tmpdir(), 'hil-power-')), 'image.bin');
      writeFileSync(path, image);
      // A documented esptool config file shortens the wait for a chip that no longer answers.
      const cfg = join(path, '..', 'esptool.cfg');
      writeFileSync(cfg, '[esptool]\ntimeout = 1\nwrite_block_attempts = 1\n');
      const first = await board.esptool(['write-flash', '0x40000', path], { env: { ESPTOOL_CFGFILE: cfg } });
      expect(first.code).not.toBe(0);
      expect(clean(first)).toMatch(/Serial data stream stopped|No more data to read|Timed out|No serial data/);
      expect(board.chip.powerCuts).toEqual(['at FLASH_DEFL_DATA #4']);
      // esptool still pulsed EN on exit; the half-written flash no longer boots.
      expect(board.chip.state).toBe('boot-failed');
      // Blocks 0..2 were inflated and programmed before the cut; the tail never arrived.
      const flash = board.chip.flash.read(0x40000, image.length);
      let same = 0;
      while (same < image.length && flash[same] === image[same]) same++;
      expect(same).toBeGreaterThan(16 * 1024);
      expect(same).toBeLessThan(image.length);

      const second = await board.esptool(['write-flash', '0x40000', path]);
      expect(second.code, clean(second)).toBe(0);
      expect(second.stdout).toContain('Hash of data verified.');
      expect(Buffer.from(board.chip.flash.read(0x40000, image.length)).equals(Buffer.from(image))).toBe(true);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('write-flash --encrypt goes through the engine and the chip boots the app', async () => {
    const key = new Uint8Array(randomBytes(32));
    const board = await serveBoard({ name: 'enc-write', ...encryptedChipEfuses(key) });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'hil-enc-'));
      const regions = firmwareSet({ version: '7.0.1' });
      const args = ['write-flash', '--encrypt', '--flash-mode', 'keep', '--flash-freq', 'keep', '--flash-size', 'keep'];
      for (const r of regions) {
        const p = join(dir, `r-${r.address.toString(16)}.bin`);
        writeFileSync(p, r.data);
        args.push(`0x${r.address.toString(16)}`, p);
      }
      const w = await board.esptool(args);
      expect(w.code, clean(w)).toBe(0);
      // What landed in flash is the ciphertext espsecure would produce for that address.
      const app = regions[3]?.data as Uint8Array;
      const expected = encryptFlash(padForEncryption(app), 0x10000, key).subarray(0, 4096);
      expect(Buffer.from(board.chip.flash.read(0x10000, 4096)).equals(Buffer.from(expected))).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(board.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 7.0.1");
    } finally {
      await board.close();
    }
  }, 170_000);
});
