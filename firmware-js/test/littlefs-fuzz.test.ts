// Seeded corruption of valid LittleFS images: byte mutations, whole-block damage and
// commit-level edits with recomputed CRCs. Only typed errors may come out, never a hang.
import { beforeAll, describe, expect, it } from 'vitest';
import { FirmwareError } from '../errors.ts';
import { buildLittlefs, openLittlefs } from '../littlefs/index.ts';
import { lfsCrc, readBe32, tagChunk, tagDiskSize, tagType2, writeLe32 } from '../littlefs/tags.ts';
import { runReference, Scratch } from './littlefs-reference.ts';
import { SeededRandom } from './seeded-random.ts';

interface Sample {
  name: string;
  image: Uint8Array;
  blockSize: number;
}

const samples: Sample[] = [];

beforeAll(async () => {
  const rnd = new SeededRandom(77);
  const files = [
    { path: 'conf9.json', data: rnd.bytes(90) },
    { path: 'init.js', data: rnd.bytes(700) },
    { path: 'certs/device.crt', data: rnd.bytes(1300) },
    { path: 'certs/ca.pem', data: rnd.bytes(9000) },
    { path: 'empty', data: new Uint8Array(0) },
    ...Array.from({ length: 30 }, (_, i) => ({ path: `lib/m${i}.js`, data: rnd.bytes(rnd.int(0, 120)) })),
  ];
  samples.push({ name: 'ours 16 x 4096', image: buildLittlefs({ size: 16 * 4096, files }), blockSize: 4096 });
  samples.push({ name: 'ours 40 x 512', image: buildLittlefs({ size: 40 * 512, blockSize: 512, files: files.filter((f) => f.data.length < 2000) }), blockSize: 512 });
  const scratch = new Scratch();
  try {
    const r = await runReference([{ op: 'torture', out: scratch.path('t.img'), seed: 9, steps: 150, block_size: 1024, block_count: 24, prog_size: 16 }]);
    expect(r[0]).toMatchObject({ ok: true });
    samples.push({ name: 'reference v2.1 24 x 1024', image: scratch.read('t.img'), blockSize: 1024 });
  } finally {
    scratch.cleanup();
  }
}, 60_000);

/** Reads everything, and sometimes writes, the way a tool inspecting a board would. */
function exercise(image: Uint8Array, write: boolean): void {
  const fs = openLittlefs(image);
  for (const s of fs.walk()) {
    if (s.type === 'file') fs.readFile(s.path);
    else fs.list(s.path);
  }
  if (fs.exists('/conf9.json')) fs.readFile('/conf9.json');
  if (write) {
    fs.writeFile('/fuzz.bin', new Uint8Array(300).fill(7));
    fs.mkdir('/fuzzdir');
    fs.remove('/fuzz.bin');
  }
}

/** Damages whole blocks: erase, zero, random fill, or a copy of another block. */
function corruptBlock(rnd: SeededRandom, image: Uint8Array, blockSize: number): Uint8Array {
  const out = image.slice();
  const blocks = Math.floor(out.length / blockSize);
  const b = rnd.int(0, Math.min(blocks - 1, rnd.int(0, 3) === 0 ? blocks - 1 : 3));
  const dst = out.subarray(b * blockSize, (b + 1) * blockSize);
  switch (rnd.int(0, 3)) {
    case 0:
      dst.fill(0xff);
      break;
    case 1:
      dst.fill(0);
      break;
    case 2:
      dst.set(rnd.bytes(blockSize));
      break;
    default: {
      const src = rnd.int(0, blocks - 1);
      dst.set(image.subarray(src * blockSize, (src + 1) * blockSize));
    }
  }
  return out;
}

/**
 * Changes bytes inside a metadata commit and recomputes its CRC, so the damage gets
 * past the checksum and into tag parsing (ids, sizes, types, pointers).
 */
function corruptCommit(rnd: SeededRandom, image: Uint8Array, blockSize: number): Uint8Array {
  const out = image.slice();
  const b = rnd.int(0, Math.min(3, Math.floor(out.length / blockSize) - 1));
  const block = out.subarray(b * blockSize, (b + 1) * blockSize);
  const commits: Array<{ start: number; crcAt: number }> = [];
  let ptag = 0xffffffff;
  let start = 0;
  for (let off = 4; off + 8 <= blockSize; ) {
    const tag = (readBe32(block, off) ^ ptag) >>> 0;
    if (tag & 0x80000000) break;
    if (tagType2(tag) === 0x500) {
      commits.push({ start, crcAt: off });
      ptag = (tag ^ ((tagChunk(tag) & 1) << 31)) >>> 0;
      off += tagDiskSize(tag);
      start = off;
      continue;
    }
    ptag = tag;
    off += tagDiskSize(tag);
  }
  const c = commits.length ? rnd.pick(commits) : undefined;
  if (!c) return out;
  const from = c.start === 0 ? 4 : c.start;
  for (let n = rnd.int(1, 3); n > 0; n--) {
    const at = rnd.int(from, c.crcAt - 1);
    block[at] = rnd.int(0, 3) === 0 ? (block[at] ?? 0) ^ (1 << rnd.int(0, 7)) : rnd.int(0, 255);
  }
  writeLe32(block, c.crcAt + 4, lfsCrc(0xffffffff, block.subarray(c.start, c.crcAt + 4)));
  return out;
}

// Seeded, so the same cases every run: each of these error paths must be reached.
const EXPECTED_CODES = [
  'firmware.littlefs.corrupt',
  'firmware.littlefs.not_littlefs',
  'firmware.littlefs.not_found',
  'firmware.littlefs.no_space',
];

describe('LittleFS reader under seeded corruption', () => {
  it('10,000+ corrupted images give typed errors or valid reads, never a hang or crash', () => {
    // A hang shows as the test's own timeout; no wall-clock limit per image (CI machines vary).
    const rnd = new SeededRandom(0xf5f5);
    const counts = { iterations: 0, ok: 0, typed: 0 };
    const codes = new Map<string, number>();
    for (let i = 0; i < 10_500; i++) {
      const sample = samples[i % samples.length]!;
      const mode = rnd.int(0, 9);
      const image =
        mode < 4 ? rnd.mutate(sample.image) : mode < 7 ? corruptCommit(rnd, sample.image, sample.blockSize) : mode < 9 ? corruptBlock(rnd, sample.image, sample.blockSize) : rnd.mutate(rnd.mutate(corruptCommit(rnd, sample.image, sample.blockSize)));
      counts.iterations++;
      try {
        exercise(image, i % 10 === 0);
        counts.ok++;
      } catch (e) {
        if (!(e instanceof FirmwareError) || !e.code.startsWith('firmware.littlefs.')) {
          throw new Error(`iteration ${i} (${sample.name}, mode ${mode}) threw a non-typed error: ${(e as Error).stack ?? String(e)}`);
        }
        counts.typed++;
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    console.log(`littlefs fuzz: ${counts.iterations} images; ${counts.ok} read fine, ${counts.typed} typed errors`, Object.fromEntries(codes));
    expect(counts.iterations).toBeGreaterThanOrEqual(10_000);
    // Both outcomes must be common, or the mutations are not reaching the parser.
    expect(counts.typed).toBeGreaterThan(500);
    expect(counts.ok).toBeGreaterThan(500);
    expect(codes.get('firmware.littlefs.corrupt')).toBeGreaterThan(100);
    expect([...codes.keys()]).toEqual(expect.arrayContaining(EXPECTED_CODES));
  }, 120_000);
});
