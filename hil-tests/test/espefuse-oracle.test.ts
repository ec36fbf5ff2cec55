// Espressif's espefuse 5.6 reads and burns the virtual ESP32's eFuses over RFC 2217, and the
// chip then boots espsecure-encrypted firmware flashed by esptool (spec §3, §5.4).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyFileToBlk1Words } from '../../firmware-js/flash-encryption/index.ts';
import { espsecure } from '../../scripts/lib/oracles.ts';
import { clean, serveBoard } from './helpers/served-board.ts';
import { firmwareSet } from './helpers/firmware-set.ts';

const dir = mkdtempSync(join(tmpdir(), 'hil-espefuse-'));

/** The value column of one field in `espefuse summary` output. */
function summaryLine(text: string, field: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${field} (`));
  if (at < 0) throw new Error(`no ${field} in summary:\n${text}`);
  // Long descriptions wrap; the value follows the last '=' on the field's first lines.
  return lines.slice(at, at + 3).join(' ');
}

describe.concurrent('espefuse over rfc2217 against the virtual ESP32', () => {
  it('summary shows our MAC, the revision and a clean chip', async () => {
    const board = await serveBoard({ name: 'fuse-clean', mac: '94:b9:7e:5a:6e:58', revision: 1 });
    try {
      const r = await board.espefuse(['summary']);
      expect(r.code, clean(r)).toBe(0);
      expect(summaryLine(r.stdout, 'MAC')).toMatch(/= 94:b9:7e:5a:6e:58 \(CRC 0xe2 OK\) R\/W/);
      expect(summaryLine(r.stdout, 'WAFER_VERSION_MAJOR')).toMatch(/= 1 R\/W/);
      expect(summaryLine(r.stdout, 'FLASH_CRYPT_CNT')).toMatch(/= 0 R\/W \(0b0000000\)/);
      expect(summaryLine(r.stdout, 'WR_DIS')).toMatch(/= 0 R\/W \(0x0000\)/);
      expect(summaryLine(r.stdout, 'BLOCK1')).toMatch(/= (00 ){31}00 R\/W/);
    } finally {
      await board.close();
    }
  }, 170_000);

  it('burn-key flash_encryption + FLASH_CRYPT_CNT/CONFIG protect the key, and the chip then boots espsecure-encrypted firmware', async () => {
    const board = await serveBoard({ name: 'fuse-fe', mac: '24:0a:c4:01:02:03', revision: 3 });
    try {
      const key = new Uint8Array(randomBytes(32));
      const keyPath = join(dir, 'fe-key.bin');
      writeFileSync(keyPath, key);
      // One invocation, several commands: espefuse batches them into one burn sequence.
      const burn = await board.espefuse([
        '--do-not-confirm',
        'burn-key', 'flash_encryption', keyPath,
        'burn-efuse', 'FLASH_CRYPT_CNT', '1', 'FLASH_CRYPT_CONFIG', '0xF',
      ]);
      expect(burn.code, clean(burn)).toBe(0);
      // The chip holds the key as burn-key reversed it, readable only by the engine.
      expect(Array.from(board.chip.efuse.hardwareBlockWords(1))).toEqual(Array.from(keyFileToBlk1Words(key)));
      expect(board.chip.efuse.readRegister(0x038)).toBe(0);

      const sum = await board.espefuse(['summary']);
      expect(sum.code, clean(sum)).toBe(0);
      expect(summaryLine(sum.stdout, 'BLOCK1')).toMatch(/= (\?\? ){31}\?\? -\/-/);
      expect(summaryLine(sum.stdout, 'FLASH_CRYPT_CNT')).toMatch(/= 1 R\/W \(0b0000001\)/);
      expect(summaryLine(sum.stdout, 'FLASH_CRYPT_CONFIG')).toMatch(/= 15 R\/W \(0xf\)/);
      expect(summaryLine(sum.stdout, 'RD_DIS')).toMatch(/= 1 R\/W \(0x1\)/);
      expect(summaryLine(sum.stdout, 'WR_DIS')).toMatch(/= 128 R\/W \(0x0080\)/);

      // Pre-encrypt the Mongoose OS layout with espsecure (the oracle), flash it raw.
      const args: string[] = ['write-flash', '--flash-mode', 'keep', '--flash-freq', 'keep', '--flash-size', 'keep'];
      for (const region of firmwareSet({ version: '4.5.6' })) {
        const plain = join(dir, `plain-${region.address.toString(16)}.bin`);
        const enc = join(dir, `enc-${region.address.toString(16)}.bin`);
        writeFileSync(plain, region.data);
        const e = await espsecure(['encrypt-flash-data', '--keyfile', keyPath, '--address', String(region.address), '--output', enc, plain]);
        expect(e.code, clean(e)).toBe(0);
        args.push(`0x${region.address.toString(16)}`, enc);
      }
      const w = await board.esptool(args);
      expect(w.code, clean(w)).toBe(0);
      // esptool ends with a hard reset: EN pulse with IO0 high, so the chip boots from flash.
      await new Promise((r) => setTimeout(r, 100));
      const log = board.chip.bootLog();
      expect(log).toContain('boot:0x13 (SPI_FAST_FLASH_BOOT)');
      expect(log).toContain('flash encryption is enabled');
      expect(log).toContain("would run app 'app_0' at 0x10000, version 4.5.6");
    } finally {
      await board.close();
    }
  }, 170_000);
});
