// crc32 against Node's zlib.crc32 (same seed semantics) and crc8Maxim against the
// MAC CRC vectors of spec esp32-rom-efuse-crypto.md §2.
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../bytes.ts';
import { crc32, crc8Maxim } from '../crc.ts';
import { SeededRandom } from './seeded-random.ts';

describe('crc32', () => {
  it('matches the CRC-32 check value and zlib for fixed inputs', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new Uint8Array(0), 0xffffffff)).toBe(0xffffffff);
  });

  it('agrees with zlib.crc32 for random data and seeds', () => {
    const rnd = new SeededRandom(32);
    for (let i = 0; i < 300; i++) {
      const data = rnd.bytes(rnd.int(0, 300));
      const seed = rnd.pick([0, 0xffffffff, rnd.nextU32()]);
      expect(crc32(data, seed)).toBe(zlibCrc32(data, seed));
    }
  });

  it('chains like zlib: crc(a‖b) = crc(b, crc(a))', () => {
    const a = fromHex('deadbeef01');
    const b = fromHex('0203040506');
    expect(crc32(b, crc32(a))).toBe(crc32(fromHex('deadbeef010203040506')));
  });
});

describe('crc8Maxim (ESP32 factory MAC CRC)', () => {
  it.each([
    ['94:b9:7e:5a:6e:58', 0xe2],
    ['c8:f0:9e:b1:82:78', 0xff],
    ['ab:cd:ef:11:22:33', 0x54],
    ['48:63:92:15:72:16', 0x75],
  ])('%s → 0x%s', (mac, crc) => {
    expect(crc8Maxim(fromHex(mac.replace(/:/g, '')))).toBe(crc);
  });

  it('is the Dallas/Maxim CRC-8 (check value 0xA1 over "123456789")', () => {
    expect(crc8Maxim(new TextEncoder().encode('123456789'))).toBe(0xa1);
  });
});
