// Byte-for-byte oracle for buildImage's esptool layout: the same segments, wrapped in
// a minimal Xtensa ELF, go through `esptool elf2image`, and both images must be
// identical — padding segments, RAM-segment splitting, 0x24 tail rule, checksum, hash.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { concatBytes, view } from '../bytes.ts';
import { buildImage, type SegmentSpec } from '../image/index.ts';
import { SeededRandom } from './seeded-random.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-elf-'));
afterAll(() => (process.env.ESPFLEET_KEEP_TMP ? undefined : rmSync(dir, { recursive: true, force: true })));

/** A minimal ELF32 LE Xtensa executable: one PROGBITS section per segment plus .shstrtab. */
function makeElf(segments: readonly SegmentSpec[], entry: number): Uint8Array {
  const names = ['', ...segments.map((_, i) => `.seg${i}`), '.shstrtab'];
  const strtab = new TextEncoder().encode(names.join('\0') + '\0');
  const nameOffsets = names.map((_, i) => names.slice(0, i).reduce((n, s) => n + s.length + 1, 0));
  const parts: Uint8Array[] = [];
  let offset = 0x34;
  const dataOffsets: number[] = [];
  for (const s of segments) {
    dataOffsets.push(offset);
    const padded = new Uint8Array(Math.ceil(s.data.length / 4) * 4);
    padded.set(s.data);
    parts.push(padded);
    offset += padded.length;
  }
  const strOffset = offset;
  const strPadded = new Uint8Array(Math.ceil(strtab.length / 4) * 4);
  strPadded.set(strtab);
  offset += strPadded.length;
  const shoff = offset;
  const shnum = segments.length + 2;
  const sh = new Uint8Array(shnum * 0x28);
  const shv = view(sh);
  const writeSh = (i: number, f: number[]) => f.forEach((v, k) => shv.setUint32(i * 0x28 + k * 4, v >>> 0, true));
  segments.forEach((s, i) => writeSh(i + 1, [nameOffsets[i + 1] as number, 1, 0x6, s.loadAddr, dataOffsets[i] as number, s.data.length, 0, 0, 4, 0]));
  writeSh(shnum - 1, [nameOffsets[shnum - 1] as number, 3, 0, 0, strOffset, strtab.length, 0, 0, 1, 0]);
  const eh = new Uint8Array(0x34);
  eh.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  const ev = view(eh);
  ev.setUint16(16, 2, true); // ET_EXEC
  ev.setUint16(18, 0x5e, true); // EM_XTENSA
  ev.setUint32(20, 1, true);
  ev.setUint32(24, entry, true);
  ev.setUint32(32, shoff, true);
  ev.setUint16(40, 0x34, true);
  ev.setUint16(42, 0x20, true);
  ev.setUint16(46, 0x28, true);
  ev.setUint16(48, shnum, true);
  ev.setUint16(50, shnum - 1, true);
  return concatBytes([eh, ...parts, strPadded, sh]);
}

async function elf2image(segments: readonly SegmentSpec[], entry: number, args: string[], name: string): Promise<Uint8Array> {
  const elf = join(dir, `${name}.elf`);
  const out = join(dir, `${name}.bin`);
  writeFileSync(elf, makeElf(segments, entry));
  expectOk(await esptool(['--chip', 'esp32', 'elf2image', '-o', out, ...args, elf]), 'esptool elf2image');
  return new Uint8Array(readFileSync(out));
}

describe('buildImage reproduces esptool elf2image byte for byte', () => {
  it('an app-shaped segment set (DROM, DRAM, IRAM, IROM)', async () => {
    const rnd = new SeededRandom(77);
    const segments = [
      { loadAddr: 0x3f400020, data: rnd.bytes(0x5123 & ~3) },
      { loadAddr: 0x3ffb0000, data: rnd.bytes(0x1234) },
      { loadAddr: 0x40080000, data: rnd.bytes(0x2a00) },
      { loadAddr: 0x400d0020, data: rnd.bytes(0x9000) },
    ];
    const theirs = await elf2image(segments, 0x400804f4, ['--flash-mode', 'dio', '--flash-size', '4MB', '--flash-freq', '80m', '--max-rev-full', '399'], 'app');
    const ours = buildImage({ segments, entry: 0x400804f4, flashMode: 'dio', flashSize: '4MB', flashFreq: '80m', maxChipRevFull: 399 });
    expect(ours.length).toBe(theirs.length);
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });

  it('a flash segment ending just past a 64 KiB page (the 0x24 tail rule)', async () => {
    const rnd = new SeededRandom(78);
    const segments = [
      { loadAddr: 0x3f400020, data: rnd.bytes(0x10000 - 0x20 + 0x10) },
      { loadAddr: 0x40080000, data: rnd.bytes(0x100) },
      { loadAddr: 0x400e0020, data: rnd.bytes(0x400) },
    ];
    const args = ['--flash-mode', 'dio', '--flash-size', '4MB', '--flash-freq', '40m'];
    const theirs = await elf2image(segments, 0x40080000, args, 'tail');
    const ours = buildImage({ segments, entry: 0x40080000, flashMode: 'dio', flashSize: '4MB', flashFreq: '40m' });
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });

  it('random segment sets, with and without the digest', async () => {
    const rnd = new SeededRandom(0xe1f);
    for (let round = 0; round < 6; round++) {
      // Non-adjacent RAM bases so elf2image's merge of touching sections does not apply.
      const segments: SegmentSpec[] = [0x3ffb0000, 0x3ffe0000, 0x40080000, 0x40090000]
        .filter(() => rnd.int(0, 2) > 0)
        .map((base) => ({ loadAddr: base + 4 * rnd.int(0, 64), data: rnd.bytes(4 * rnd.int(1, 0xc00)) }));
      if (rnd.int(0, 1)) segments.push({ loadAddr: 0x3f400020 + 0x10000 * rnd.int(0, 2), data: rnd.bytes(4 * rnd.int(1, 0x5000)) });
      segments.push({ loadAddr: 0x400d0018 + 4 * rnd.int(0, 8) + 0x10000 * rnd.int(0, 2), data: rnd.bytes(4 * rnd.int(1, 0x4800)) });
      const digest = rnd.int(0, 1) === 1;
      const entry = 0x40080000 + 4 * rnd.int(0, 64);
      const theirs = await elf2image(
        segments,
        entry,
        ['--flash-mode', 'qio', '--flash-size', '2MB', '--flash-freq', '40m', '--min-rev-full', '100', ...(digest ? [] : ['--dont-append-digest'])],
        `rand-${round}`,
      );
      const ours = buildImage({ segments, entry, flashMode: 'qio', flashSize: '2MB', flashFreq: '40m', minChipRevFull: 100, hashAppended: digest });
      if (process.env.ESPFLEET_KEEP_TMP) writeFileSync(join(dir, `ours-${round}.bin`), ours);
      expect(Buffer.from(ours).equals(Buffer.from(theirs)), `round ${round}`).toBe(true);
    }
  });
});
