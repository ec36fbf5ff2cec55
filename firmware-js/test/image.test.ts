// Image build/parse/verify (spec esp32-rom-efuse-crypto.md §6.1–6.2): header fields,
// layout rules, footer, damaged variants with their specific error codes.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, hex, view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import {
  APP_DESC_MAGIC,
  buildAppDesc,
  buildImage,
  layoutSegments,
  parseAppDesc,
  parseImage,
  setFlashParams,
  verifyImage,
} from '../image/index.ts';
import { makeAppImage, makeBootloaderImage } from '../testgen/images.ts';
import { codeOf } from './error-codes.ts';

const bytesOf = (n: number, start = 1) => Uint8Array.from({ length: n }, (_, i) => (start + i * 7) & 0xff);

describe('buildImage / parseImage', () => {
  it('writes the header fields at their spec offsets and parses them back', () => {
    const img = buildImage({
      segments: [{ loadAddr: 0x3fff0030, data: bytesOf(16) }],
      entry: 0x40080650,
      flashMode: 'dout',
      flashSize: '2MB',
      flashFreq: '40m',
      minChipRevFull: 300,
      maxChipRevFull: 399,
      minRev: 3,
      spiDrive: { clk: 1, q: 2, d: 3, cs: 4, hd: 5, wp: 6 },
      layout: 'as-given',
    });
    // Same header shape as the v5.2 test bootloader in the spec, with our own entry/revs.
    expect(hex(img.subarray(0, 24))).toBe('e90103105006084' + '0ee214365000003' + '2c018f0100000000' + '01');
    const p = parseImage(img);
    expect(p).toMatchObject({
      magic: 0xe9,
      segmentCount: 1,
      flashMode: { value: 3, name: 'dout' },
      flashSize: { nibble: 1, name: '2MB', bytes: 0x200000 },
      flashFreq: { nibble: 0, name: '40m' },
      entry: 0x40080650,
      wpPin: 0xee,
      spiDrive: { clk: 1, q: 2, d: 3, cs: 4, hd: 5, wp: 6 },
      chipId: 0,
      minRev: 3,
      minChipRevFull: 300,
      maxChipRevFull: 399,
      hashAppended: true,
    });
    expect(p.segments).toEqual([
      expect.objectContaining({ loadAddr: 0x3fff0030, length: 16, fileOffset: 24, dataOffset: 32, data: bytesOf(16) }),
    ]);
  });

  it('pads to ≡15 mod 16, stores 0xEF XOR the data, then the SHA-256 of everything before', () => {
    const data = fromHex('01020304a0b0c0d0');
    const img = buildImage({ segments: [{ loadAddr: 0x40080000, data }], entry: 0x40080000, layout: 'as-given' });
    // 24 header + 8 seg header + 8 data = 40 → checksum at 47, hash 48…79.
    expect(img.length).toBe(80);
    expect(Array.from(img.subarray(40, 47))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const xor = data.reduce((a, b) => a ^ b, 0xef);
    expect(img[47]).toBe(xor);
    expect(hex(img.subarray(48))).toBe(createHash('sha256').update(img.subarray(0, 48)).digest('hex'));
    const p = verifyImage(img);
    expect(p.checksum).toEqual({ stored: xor, computed: xor, ok: true, offset: 47 });
    expect(p.length).toBe(80);
  });

  it('leaves the hash off when hashAppended is false', () => {
    const img = buildImage({ segments: [{ loadAddr: 0x40080000, data: bytesOf(8) }], entry: 0, hashAppended: false });
    expect(img.length).toBe(48);
    expect(img[23]).toBe(0);
    expect(parseImage(img).sha256).toBeNull();
  });

  it('reports trailing bytes (a partition read) outside the image length', () => {
    const img = makeBootloaderImage();
    const padded = new Uint8Array(img.length + 4096).fill(0xff);
    padded.set(img);
    expect(verifyImage(padded).length).toBe(img.length);
  });

  it('pads segment data to a multiple of 4 like esptool', () => {
    const img = buildImage({ segments: [{ loadAddr: 0x40080000, data: fromHex('aabbcc') }], entry: 0 });
    expect(parseImage(img).segments[0]?.data).toEqual(fromHex('aabbcc00'));
  });
});

describe('layoutSegments (esptool elf2image rules)', () => {
  it('puts the first DROM segment at file offset 0x18 and IROM at its 64 KiB offset', () => {
    const segs = layoutSegments([
      { loadAddr: 0x400d0020, data: bytesOf(0x1000) },
      { loadAddr: 0x3ffb0000, data: bytesOf(0x800) },
      { loadAddr: 0x3f400020, data: bytesOf(0x2000) },
    ]);
    const img = buildImage({ segments: segs, entry: 0, layout: 'as-given' });
    const p = verifyImage(img);
    expect(p.segments[0]).toMatchObject({ loadAddr: 0x3f400020, fileOffset: 0x18 });
    const irom = p.segments.find((s) => s.loadAddr === 0x400d0020);
    expect(irom && irom.dataOffset % 0x10000).toBe(0x20);
    // The DRAM segment was used whole as padding, then a zero segment at address 0 filled the rest.
    expect(p.segments.map((s) => s.loadAddr)).toEqual([0x3f400020, 0x3ffb0000, 0, 0x400d0020]);
  });

  it('splits a RAM segment to pad and moves its load address on', () => {
    const img = makeAppImage({ version: '1', appSize: 0x30000 });
    const p = verifyImage(img);
    const dram = p.segments.filter((s) => s.memory.includes('DRAM'));
    expect(dram.length).toBeGreaterThanOrEqual(1);
    expect(p.warnings).toEqual([]);
  });

  it('refuses two flash segments in one 64 KiB page', () => {
    expect(
      codeOf(() =>
        buildImage({
          segments: [
            { loadAddr: 0x3f400020, data: bytesOf(8) },
            { loadAddr: 0x3f408000, data: bytesOf(8) },
          ],
          entry: 0,
        }),
      ),
    ).toBe('firmware.image.segment_mapping_conflict');
  });

  it('pads a flash segment that would end < 0x24 bytes past a page boundary', () => {
    // DROM data at 0x20; length chosen so the segment ends 0x10 bytes into the next page.
    const segs = layoutSegments([{ loadAddr: 0x3f400020, data: bytesOf(0x10000 - 0x20 + 0x10) }]);
    const end = 0x18 + 8 + (segs[0]?.data.length ?? 0);
    expect(end % 0x10000).toBe(0x24);
  });

  it('rejects more than 16 segments', () => {
    const segments = Array.from({ length: 17 }, (_, i) => ({ loadAddr: 0x3ffb0000 + i * 0x100, data: bytesOf(4) }));
    expect(codeOf(() => buildImage({ segments, entry: 0 }))).toBe('firmware.image.too_many_segments');
  });
});

describe('esp_app_desc_t', () => {
  const fields = { version: '2.5.1', projectName: 'thermo', time: '12:34:56', date: 'Mar  3 2026', idfVer: 'v4.4.8', secureVersion: 7 };

  it('lays fields out at the spec offsets', () => {
    const d = buildAppDesc(fields);
    expect(d.length).toBe(256);
    const v = view(d);
    expect(v.getUint32(0, true)).toBe(APP_DESC_MAGIC);
    expect(v.getUint32(4, true)).toBe(7);
    expect(new TextDecoder().decode(d.subarray(16, 21))).toBe('2.5.1');
    expect(d[21]).toBe(0);
    expect(new TextDecoder().decode(d.subarray(48, 54))).toBe('thermo');
    expect(new TextDecoder().decode(d.subarray(80, 88))).toBe('12:34:56');
    expect(new TextDecoder().decode(d.subarray(96, 107))).toBe('Mar  3 2026');
    expect(new TextDecoder().decode(d.subarray(112, 118))).toBe('v4.4.8');
    expect(parseAppDesc(d)).toMatchObject(fields);
  });

  it('is found at file offset 0x20 of a generated app and in parseImage', () => {
    const img = makeAppImage({ version: '9.9.9-rc1', projectName: 'agent' });
    expect(parseAppDesc(img, 0x20)).toMatchObject({ version: '9.9.9-rc1', projectName: 'agent' });
    expect(parseImage(img).appDesc).toMatchObject({ version: '9.9.9-rc1', projectName: 'agent' });
    expect(parseImage(makeBootloaderImage()).appDesc).toBeNull();
  });

  it('rejects a wrong magic, a short buffer and over-long fields', () => {
    expect(codeOf(() => parseAppDesc(new Uint8Array(256)))).toBe('firmware.image.bad_app_desc_magic');
    expect(codeOf(() => parseAppDesc(buildAppDesc(fields), 1))).toBe('firmware.image.truncated');
    expect(codeOf(() => buildAppDesc({ ...fields, version: 'x'.repeat(32) }))).toBe('firmware.image.app_desc_field_too_long');
    expect(buildAppDesc({ ...fields, version: 'x'.repeat(31) })[47]).toBe(0);
  });
});

describe('verifyImage rejects damaged images with specific codes', () => {
  const good = makeAppImage({ version: '1.0.0', appSize: 0x8000 });
  const parsed = parseImage(good);

  it('a flipped byte in a segment: checksum mismatch (reported by parse, thrown by verify)', () => {
    const bad = good.slice();
    const seg = parsed.segments[1];
    if (!seg) throw new Error('no segment 1');
    bad[seg.dataOffset + 5] = (bad[seg.dataOffset + 5] as number) ^ 0x10;
    const p = parseImage(bad);
    expect(p.checksum.ok).toBe(false);
    expect(p.sha256?.ok).toBe(false);
    expect(codeOf(() => verifyImage(bad))).toBe('firmware.image.bad_checksum');
  });

  it('two flips that cancel in the XOR are still caught by the hash', () => {
    const bad = good.slice();
    const seg = parsed.segments[0] as { dataOffset: number };
    bad[seg.dataOffset + 300] = (bad[seg.dataOffset + 300] as number) ^ 0x04;
    bad[seg.dataOffset + 301 + 3] = (bad[seg.dataOffset + 301 + 3] as number) ^ 0x04;
    expect(parseImage(bad).checksum.ok).toBe(true);
    expect(codeOf(() => verifyImage(bad))).toBe('firmware.image.bad_sha256');
  });

  it('a bad checksum byte', () => {
    const bad = good.slice();
    bad[parsed.checksum.offset] = (bad[parsed.checksum.offset] as number) ^ 0xff;
    expect(codeOf(() => verifyImage(bad))).toBe('firmware.image.bad_checksum');
  });

  it('a bad appended hash', () => {
    const bad = good.slice();
    bad[good.length - 1] = (bad[good.length - 1] as number) ^ 1;
    const p = parseImage(bad);
    expect(p.checksum.ok).toBe(true);
    expect(p.sha256?.ok).toBe(false);
    expect(codeOf(() => verifyImage(bad))).toBe('firmware.image.bad_sha256');
  });

  it('a changed header byte (flash params) without rehashing', () => {
    const bad = good.slice();
    bad[2] = 0;
    expect(codeOf(() => verifyImage(bad))).toBe('firmware.image.bad_sha256');
  });

  it.each([
    ['in the header', 10],
    ['in a segment header', 28],
    ['inside segment data', 1000],
    ['before the checksum', -33],
    ['inside the hash', -5],
  ])('truncated %s', (_, cut) => {
    const bad = good.subarray(0, cut < 0 ? good.length + cut : cut);
    expect(codeOf(() => verifyImage(bad))).toBe('firmware.image.truncated');
  });

  it('bad magic, absurd segment lengths, too many segments, bad hash flag, odd lengths', () => {
    const withByte = (at: number, value: number) => {
      const b = good.slice();
      b[at] = value;
      return b;
    };
    expect(codeOf(() => parseImage(withByte(0, 0xe8)))).toBe('firmware.image.bad_magic');
    expect(codeOf(() => parseImage(new Uint8Array(0)))).toBe('firmware.image.truncated');
    expect(codeOf(() => parseImage(withByte(1, 17)))).toBe('firmware.image.too_many_segments');
    expect(codeOf(() => parseImage(withByte(23, 2)))).toBe('firmware.image.bad_header');
    expect(codeOf(() => parseImage(withByte(24 + 7, 0x01)))).toBe('firmware.image.segment_out_of_bounds');
    expect(codeOf(() => parseImage(withByte(24 + 4, (good[28] as number) + 1)))).toBe('firmware.image.bad_segment_length');
  });

  it('errors carry the actual values and a hint', () => {
    const bad = good.slice();
    bad[0] = 0x12;
    let caught: unknown;
    try {
      parseImage(bad);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FirmwareError);
    expect((caught as FirmwareError).message).toContain('0x12');
    expect((caught as FirmwareError).hint).toBeTruthy();
  });

  it('a flash segment off its MMU alignment', () => {
    const img = buildImage({ segments: [{ loadAddr: 0x3f400040, data: bytesOf(64) }], entry: 0, layout: 'as-given' });
    expect(parseImage(img).warnings).toHaveLength(1);
    expect(codeOf(() => verifyImage(img))).toBe('firmware.image.segment_misaligned');
  });
});

describe('setFlashParams', () => {
  it('patches bytes 2–3, recomputes the hash and keeps everything else', () => {
    const boot = makeBootloaderImage();
    const out = setFlashParams(boot, { mode: 'qio', size: '16MB', freq: '40m' });
    expect(out[2]).toBe(0);
    expect(out[3]).toBe(0x40);
    const p = verifyImage(out);
    expect(p.flashSize.name).toBe('16MB');
    expect(out.subarray(4, boot.length - 32)).toEqual(boot.subarray(4, boot.length - 32));
    expect(boot[2]).toBe(2); // input untouched
  });

  it('keeps omitted parameters and trailing bytes', () => {
    const boot = makeBootloaderImage();
    const padded = new Uint8Array(boot.length + 16).fill(0xff);
    padded.set(boot);
    const out = setFlashParams(padded, { freq: '26m' });
    expect(out[2]).toBe(boot[2]);
    expect(out[3]).toBe(((boot[3] as number) & 0xf0) | 1);
    expect(out.subarray(boot.length)).toEqual(new Uint8Array(16).fill(0xff));
  });

  it('refuses an already-corrupt image and unknown parameter names', () => {
    const boot = makeBootloaderImage();
    const bad = boot.slice();
    bad[100] = (bad[100] as number) ^ 1;
    expect(codeOf(() => setFlashParams(bad, { mode: 'dio' }))).toBe('firmware.image.bad_checksum');
    expect(codeOf(() => setFlashParams(boot, { size: '3MB' as never }))).toBe('firmware.image.bad_flash_params');
  });
});
