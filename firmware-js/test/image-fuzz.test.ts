// Seeded mutation fuzz of parseImage/verifyImage: whatever the bytes, only a typed
// FirmwareError may come out, and the mutations reach many distinct error paths.
import { describe, expect, it } from 'vitest';
import { FirmwareError } from '../errors.ts';
import { buildAppDesc, buildBootloaderDesc, buildImage, parseImage, verifyImage } from '../image/index.ts';
import { SeededRandom } from './seeded-random.ts';

// Small seeds keep 10,000+ runs fast; flash-mapped IROM would need 64 KiB of padding,
// so the app seed is DROM-only (still at its MMU offset, carrying esp_app_desc_t).
const fill = new SeededRandom(5);
const appDesc = buildAppDesc({ version: '1.0.0', projectName: 'fuzz', time: '00:00:00', date: 'Jan  1 2026', idfVer: 'v4.4' });
const bootDesc = buildBootloaderDesc({ version: 1, idfVer: 'v5.2', dateTime: 'Jan  1 2026 00:00:00' });
const SEEDS = [
  buildImage({
    segments: [
      { loadAddr: 0x3f400020, data: Uint8Array.from([...appDesc, ...fill.bytes(200)]) },
      { loadAddr: 0x3ffb0000, data: fill.bytes(96) },
      { loadAddr: 0x40080000, data: fill.bytes(120) },
    ],
    entry: 0x40080010,
  }),
  buildImage({
    segments: [
      { loadAddr: 0x3fff0030, data: Uint8Array.from([...bootDesc, ...fill.bytes(100)]) },
      { loadAddr: 0x40078000, data: fill.bytes(200) },
      { loadAddr: 0x40080400, data: fill.bytes(160) },
    ],
    entry: 0x40080650,
  }),
  buildImage({ segments: [{ loadAddr: 0x40080000, data: fill.bytes(64) }], entry: 0x40080000, hashAppended: false }),
];

// Seeded, so the same cases every run: each of these error paths must be reached.
const EXPECTED_CODES = [
  'firmware.image.truncated',
  'firmware.image.segment_out_of_bounds',
  'firmware.image.bad_header',
  'firmware.image.bad_magic',
  'firmware.image.too_many_segments',
];

describe('parseImage fuzz', () => {
  it('10,000+ mutated images: only FirmwareError, several distinct codes', () => {
    const rnd = new SeededRandom(0x1a9e);
    const codes = new Map<string, number>();
    let parsed = 0;
    const runs = 12_000;
    for (let i = 0; i < runs; i++) {
      let input = rnd.pick(SEEDS);
      for (let m = rnd.int(1, 3); m > 0; m--) input = rnd.mutate(input);
      try {
        const img = parseImage(input);
        parsed++;
        if (img.length > input.length || img.segments.length !== img.segmentCount) throw new Error(`case ${i}: inconsistent parse`);
        try {
          verifyImage(input);
        } catch (e) {
          if (!(e instanceof FirmwareError)) throw e;
        }
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`, { cause: e });
        if (!e.code.startsWith('firmware.image.')) throw new Error(`case ${i}: unexpected code ${e.code}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    // The mutations reach both the happy path and several distinct error paths.
    expect(parsed).toBeGreaterThan(1000);
    expect(codes.size).toBeGreaterThanOrEqual(4);
    expect([...codes.keys()]).toEqual(expect.arrayContaining(EXPECTED_CODES));
  });
});
