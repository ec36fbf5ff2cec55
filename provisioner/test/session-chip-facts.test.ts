// Pure decoding of chip facts, MD5 replies and sector runs, against the values in
// shared/spec/esp32-rom-efuse-crypto.md §1.10, §2, §3.2 (real-chip words from esptool issues).
import { describe, expect, it } from 'vitest';
import { decodeChipFacts, decodeMac, decodePackage, decodeRevision, decodeSecurity } from '../session/chip-facts.ts';
import { decodeMd5Payload } from '../session/flash-commands.ts';
import { crystalFromClkdiv, flashSizeFromJedec } from '../session/targets/esp32.ts';
import { changedRuns, checkRegions } from '../session/write-regions.ts';
import { createHash } from 'node:crypto';

const V3_APB_CTL_DATE = 0x96042000; // a real v3 chip (esptool #921)

describe('MAC from eFuse words 1 and 2 (§2)', () => {
  it.each([
    [0x7e5a6e58, 0x00e294b9, '94:b9:7e:5a:6e:58'],
    [0x9eb18278, 0x00ffc8f0, 'c8:f0:9e:b1:82:78'],
    [0xef112233, 0x0054abcd, 'ab:cd:ef:11:22:33'],
  ])('w1=%s w2=%s → %s with a matching CRC', (w1, w2, mac) => {
    expect(decodeMac([0, w1, w2])).toEqual({ mac, crcOk: true });
  });

  it('flags a MAC whose CRC byte does not match', () => {
    expect(decodeMac([0, 0x7e5a6e58, 0x00e394b9])).toEqual({ mac: '94:b9:7e:5a:6e:58', crcOk: false });
  });
});

describe('revision (§2)', () => {
  const words = (rev1: boolean, rev2: boolean, minor = 0) => [0, 0, 0, rev1 ? 1 << 15 : 0, 0, (rev2 ? 1 << 20 : 0) | (minor << 24), 0];
  it('v3.0 from both eFuse bits and APB_CTL_DATE bit 31', () => expect(decodeRevision(words(true, true), V3_APB_CTL_DATE)).toEqual({ major: 3, minor: 0 }));
  it('v1 needs bit0 only', () => expect(decodeRevision(words(true, false), 0x16042000)).toEqual({ major: 1, minor: 0 }));
  it('v2 and the minor version', () => expect(decodeRevision(words(true, true, 1), 0x16042000)).toEqual({ major: 2, minor: 1 }));
  it("inconsistent bits read 0 as in esptool's table (esptool-js would say 1)", () => {
    expect(decodeRevision(words(true, false), V3_APB_CTL_DATE).major).toBe(0);
  });
});

describe('package (§2)', () => {
  const w3 = (pkg: number, singleCore = false) => [0, 0, 0, ((pkg & 7) << 9) | (((pkg >> 3) & 1) << 2) | (singleCore ? 1 : 0)];
  it.each([
    [0, 3, false, 'ESP32-D0WDQ6-V3'],
    [0, 1, false, 'ESP32-D0WDQ6'],
    [1, 1, true, 'ESP32-S0WD'],
    [5, 3, false, 'ESP32-PICO-V3'],
    [5, 1, false, 'ESP32-PICO-D4'],
    [6, 3, false, 'ESP32-PICO-V3-02'],
  ])('code %i, v%i, single core %s → %s', (pkg, major, sc, name) => {
    expect(decodePackage(w3(pkg, sc), major).name).toBe(name);
  });
  it('an unknown code says so', () => expect(decodePackage(w3(9), 3).name).toBe('unknown ESP32 package 9'));
});

describe('eFuse security state (§3.2, §5.2)', () => {
  it('a real v3 chip set up for flash encryption (esptool #921 words 5 and 6)', () => {
    const word0 = (1 << 20) | (1 << 16) | (1 << 7); // FLASH_CRYPT_CNT=1, RD_DIS BLK1, WR_DIS BLK1
    const s = decodeSecurity([word0, 0, 0, 0, 0, 0xf0100000, 0x00000344]);
    expect(s).toEqual({
      flashCryptCnt: 1,
      encryptionEnabled: true,
      flashCryptConfig: 0xf,
      keyBlock1: { readProtected: true, writeProtected: true },
      downloadDisables: { encrypt: false, decrypt: true, cache: true },
      jtagDisabled: true,
      uartDownloadDisabled: false,
      codingScheme: 'none',
    });
  });

  it('an even FLASH_CRYPT_CNT means encryption is off again', () => {
    expect(decodeSecurity([0b11 << 20]).encryptionEnabled).toBe(false);
    expect(decodeSecurity([0b111 << 20]).encryptionEnabled).toBe(true);
    expect(decodeSecurity([0x7f << 20]).flashCryptCnt).toBe(0x7f);
  });

  it('UART download disable and the 3/4 coding scheme', () => {
    const s = decodeSecurity([1 << 27, 0, 0, 0, 0, 0, 1]);
    expect(s.uartDownloadDisabled).toBe(true);
    expect(s.codingScheme).toBe('3/4');
  });
});

describe('crystal and flash size', () => {
  it('UART_CLKDIV × baud snaps to 40 or 26 MHz', () => {
    expect(crystalFromClkdiv(347, 115200)).toBe(40);
    expect(crystalFromClkdiv(226, 115200)).toBe(26);
    expect(crystalFromClkdiv(0xfff00000 | 347, 115200)).toBe(40); // only the low 20 bits count
  });
  it('JEDEC capacity codes', () => {
    expect(flashSizeFromJedec(0x1640ef)).toBe(4 << 20);
    expect(flashSizeFromJedec(0x1840ef)).toBe(16 << 20);
    expect(flashSizeFromJedec(0x3640c8)).toBe(4 << 20);
    expect(flashSizeFromJedec(0xffffff)).toBeNull();
  });
  it('decodeChipFacts puts it together', () => {
    const f = decodeChipFacts({ efuseWords: [0, 0x7e5a6e58, 0x00e294b9, 1 << 15, 0, 1 << 20, 0], apbCtlDate: V3_APB_CTL_DATE, uartClkdiv: 347, clkdivBaud: 115200, jedecId: 0x1740ef });
    expect(f).toMatchObject({ chip: 'ESP32', mac: '94:b9:7e:5a:6e:58', revision: { major: 3, minor: 0 }, package: 'ESP32-D0WDQ6-V3', crystalMHz: 40, flash: { sizeBytes: 8 << 20 } });
    expect(f.features).toEqual(['Wi-Fi', 'BT', 'Dual Core']);
  });
});

describe('SPI_FLASH_MD5 replies (§1.7, §1.10)', () => {
  const digest = createHash('md5').update('espfleet').digest();
  it('ROM: 32 ASCII hex characters', () => {
    expect(decodeMd5Payload(new TextEncoder().encode(digest.toString('hex')), 'rom')).toBe(digest.toString('hex'));
  });
  it('stub: 16 raw bytes', () => expect(decodeMd5Payload(new Uint8Array(digest), 'stub')).toBe(digest.toString('hex')));
  it('the ROM reply read as raw bytes is what esptool-js gets wrong; ours refuses garbage', () => {
    expect(() => decodeMd5Payload(new Uint8Array(digest), 'rom')).toThrow(/not 32 hex characters/);
    expect(() => decodeMd5Payload(new Uint8Array(8), 'stub')).toThrow(/8 bytes, expected 16/);
  });
});

describe('sector runs and region checks', () => {
  it('groups changed sectors into runs', () => {
    expect(changedRuns([false, true, true, false, true])).toEqual([
      { first: 1, count: 2 },
      { first: 4, count: 1 },
    ]);
    expect(changedRuns([false, false])).toEqual([]);
  });
  it('refuses unaligned, overlapping and too-large regions before writing', () => {
    const b = new Uint8Array(0x2000);
    expect(() => checkRegions([{ address: 0x1001, bytes: b }], 4 << 20)).toThrow(expect.objectContaining({ code: 'session.bad_region', message: expect.stringContaining('0x00001001') }));
    expect(() => checkRegions([{ address: 0x1000, bytes: b, name: 'a' }, { address: 0x2000, bytes: b, name: 'b' }], 4 << 20)).toThrow(/a .* overlaps b/);
    expect(() => checkRegions([{ address: 0x3ff000, bytes: b }], 4 << 20)).toThrow(/beyond the 4 MB flash/);
    expect(() => checkRegions([{ address: 0x1000, bytes: b }, { address: 0x3000, bytes: b }], 4 << 20)).not.toThrow();
  });
});
