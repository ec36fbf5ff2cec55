// Building LittleFS images and reading them back, proven against the reference
// littlefs (littlefs-python): format is byte-identical, every built tree mounts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirmwareError } from '../errors.ts';
import { buildLittlefs, composeDeviceFs, formatLittlefs, openLittlefs } from '../littlefs/index.ts';
import { runReference, Scratch, toHex, type RefEntry, type RefResult } from './littlefs-reference.ts';
import { SeededRandom } from './seeded-random.ts';

const FS_SIZE = 256 * 1024;
const text = (s: string) => new TextEncoder().encode(s);
const rnd = new SeededRandom(0x1f5);

const LONG_NAME = 'n'.repeat(250) + '.json'; // 255 bytes, the name_max of fs_0
const bigFiles = [
  { path: 'ctz/three-blocks.bin', data: rnd.bytes(3 * 4096 + 17) },
  { path: 'ctz/hundred-k.bin', data: rnd.bytes(100_000) },
  { path: 'ctz/exact-block.bin', data: rnd.bytes(4096) },
  { path: 'ctz/just-over-inline.bin', data: rnd.bytes(129) },
  { path: 'inline-max.bin', data: rnd.bytes(128) },
  { path: 'empty', data: new Uint8Array(0) },
  { path: `deep/a/b/c/d/${LONG_NAME}`, data: text('{"long": true}') },
  { path: 'conf9.json', data: text('{"device": {"id": "esp32_0A1B2C"}}\n') },
];
const manyFiles = Array.from({ length: 160 }, (_, i) => ({
  path: `${['', 'app/', 'app/lib/', 'certs/'][i % 4]}file-${String(i).padStart(3, '0')}.txt`,
  data: rnd.bytes(i % 7 === 0 ? 0 : i % 20 === 1 ? 1000 : rnd.int(1, 128)),
}));

const scratch = new Scratch();
let builtBig: Uint8Array;
let builtMany: Uint8Array;
let ref: RefResult[] = [];

beforeAll(async () => {
  builtBig = buildLittlefs({ size: FS_SIZE, files: bigFiles, dirs: ['empty-dir', 'deep/a/other'] });
  builtMany = buildLittlefs({ size: FS_SIZE, files: manyFiles });
  scratch.write('big.img', builtBig);
  scratch.write('many.img', builtMany);
  scratch.write('small-blocks.img', buildLittlefs({ size: 64 * 1024, blockSize: 512, files: manyFiles.slice(0, 40) }));
  ref = await runReference([
    { op: 'format', out: scratch.path('ref-format.img'), block_size: 4096, block_count: 64, disk_version: 0x00020000 },
    { op: 'format', out: scratch.path('ref-format-512.img'), block_size: 512, block_count: 16, disk_version: 0x00020000 },
    { op: 'read', image: scratch.path('big.img'), block_size: 4096 },
    { op: 'read', image: scratch.path('many.img'), block_size: 4096 },
    { op: 'read', image: scratch.path('small-blocks.img'), block_size: 512 },
  ]);
}, 60_000);

afterAll(() => scratch.cleanup());

function expectedTree(files: ReadonlyArray<{ path: string; data: Uint8Array }>, dirs: string[] = []): RefEntry[] {
  const entries = new Map<string, RefEntry>();
  const addDirs = (path: string) => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      entries.set(p, { path: p, type: 'dir', size: 0 });
    }
  };
  dirs.forEach(addDirs);
  for (const f of files) {
    addDirs(f.path.split('/').slice(0, -1).join('/'));
    entries.set(`/${f.path}`, { path: `/${f.path}`, type: 'file', size: f.data.length, hex: toHex(f.data) });
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

const sortTree = (t: RefEntry[]) => [...t].sort((a, b) => (a.path < b.path ? -1 : 1));

describe('formatLittlefs', () => {
  it('is byte-identical to lfs_format (64 x 4096, disk version 2.0, prog size 128)', () => {
    expect(ref[0]).toMatchObject({ ok: true });
    expect(toHex(formatLittlefs({ size: FS_SIZE }))).toBe(toHex(scratch.read('ref-format.img')));
  });

  it('is byte-identical for 16 x 512-byte blocks', () => {
    expect(toHex(formatLittlefs({ size: 16 * 512, blockSize: 512 }))).toBe(toHex(scratch.read('ref-format-512.img')));
  });

  it('writes the superblock littlefs expects at block 0 offset 8', () => {
    const img = formatLittlefs({ size: FS_SIZE });
    expect(new TextDecoder().decode(img.subarray(8, 16))).toBe('littlefs');
    const fs = openLittlefs(img);
    expect([fs.blockSize, fs.blockCount, fs.version]).toEqual([4096, 64, 0x00020000]);
    expect(fs.walk()).toEqual([]);
  });

  it('refuses sizes that are not whole blocks', () => {
    expect(() => formatLittlefs({ size: 4096 * 64 + 1 })).toThrow(/not a whole number/);
    expect(() => formatLittlefs({ size: 4096 })).toThrow(/≥ 2/);
  });
});

describe('buildLittlefs, mounted by the reference', () => {
  it('multi-block CTZ files, 0-byte files, nested and empty dirs and a 255-byte name read back identically', () => {
    expect(ref[2]).toMatchObject({ ok: true });
    const got = ref[2]!.ok ? ref[2]!.entries! : [];
    expect(sortTree(got)).toEqual(expectedTree(bigFiles, ['empty-dir', 'deep/a/other']));
    expect(got.find((e) => e.path.endsWith(LONG_NAME))?.path.split('/').pop()).toHaveLength(255);
  });

  it('160 files in four directories (pairs split) read back identically', () => {
    expect(ref[3]).toMatchObject({ ok: true });
    expect(sortTree(ref[3]!.ok ? ref[3]!.entries! : [])).toEqual(expectedTree(manyFiles));
  });

  it('512-byte blocks (constant splitting) read back identically', () => {
    expect(ref[4]).toMatchObject({ ok: true });
    expect(sortTree(ref[4]!.ok ? ref[4]!.entries! : [])).toEqual(expectedTree(manyFiles.slice(0, 40)));
  });

  it('our reader agrees with the reference listing, in the same directory order', () => {
    const fs = openLittlefs(builtMany);
    const ours = fs.walk().map((s) => s.path);
    expect(ours).toEqual((ref[3]!.ok ? ref[3]!.entries! : []).map((e) => e.path));
    for (const f of manyFiles) expect(toHex(fs.readFile(f.path))).toBe(toHex(f.data));
  });

  it('stat and list report types and sizes', () => {
    const fs = openLittlefs(builtBig);
    expect(fs.stat('/ctz/hundred-k.bin')).toEqual({ path: '/ctz/hundred-k.bin', name: 'hundred-k.bin', type: 'file', size: 100_000 });
    expect(fs.stat('ctz')).toMatchObject({ type: 'dir', size: 0 });
    expect(fs.stat('/')).toMatchObject({ path: '/', type: 'dir' });
    expect(fs.list('/ctz').map((s) => s.name).sort()).toEqual(['exact-block.bin', 'hundred-k.bin', 'just-over-inline.bin', 'three-blocks.bin']);
    expect(fs.list('/empty-dir')).toEqual([]);
  });

  it('builds a 256 KiB image with ~20 files, the same bytes every time', () => {
    const files = Array.from({ length: 20 }, (_, i) => ({ path: `fs/f${i}.js`, data: rnd.bytes(200 + i * 300) }));
    const image = buildLittlefs({ size: FS_SIZE, files });
    expect(image.length).toBe(FS_SIZE);
    expect(Buffer.from(buildLittlefs({ size: FS_SIZE, files })).equals(Buffer.from(image))).toBe(true);
  });
});

describe('composeDeviceFs', () => {
  it('adds and replaces per-device files and leaves the others intact', () => {
    const base = buildLittlefs({ size: FS_SIZE, files: [{ path: 'init.js', data: text('load("api_config.js");') }, { path: 'conf9.json', data: text('{}') }, ...bigFiles.slice(0, 2)] });
    const device = { 'conf9.json': text('{"device":{"id":"esp32_01"}}'), 'device.crt': rnd.bytes(900), 'device.key': rnd.bytes(300), 'ca.pem': rnd.bytes(1200) };
    const out = composeDeviceFs(base, device);
    expect(out.length).toBe(base.length);
    const fs = openLittlefs(out);
    for (const [path, data] of Object.entries(device)) expect(toHex(fs.readFile(path))).toBe(toHex(data));
    expect(new TextDecoder().decode(fs.readFile('init.js'))).toBe('load("api_config.js");');
    expect(toHex(fs.readFile(bigFiles[1]!.path))).toBe(toHex(bigFiles[1]!.data));
    // The base image itself is untouched.
    expect(new TextDecoder().decode(openLittlefs(base).readFile('conf9.json'))).toBe('{}');
  });
});

describe('clear errors', () => {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(FirmwareError);
      return (e as FirmwareError).code;
    }
    throw new Error('expected an error');
  };

  it('image full: no_space, and the image is unchanged', () => {
    const fs = openLittlefs(formatLittlefs({ size: 16 * 4096 }));
    fs.writeFile('a.bin', rnd.bytes(40_000));
    const before = fs.image();
    let err: FirmwareError | undefined;
    try {
      fs.writeFile('b.bin', rnd.bytes(40_000));
    } catch (e) {
      err = e as FirmwareError;
    }
    expect(err?.code).toBe('firmware.littlefs.no_space');
    expect(err?.message).toMatch(/all 16 blocks/);
    expect(err?.hint).toBeTruthy();
    expect(toHex(fs.image())).toBe(toHex(before));
    expect(() => buildLittlefs({ size: 8 * 4096, files: [{ path: 'x', data: new Uint8Array(64 * 1024) }] })).toThrow(/full/);
  });

  it('name too long: name_too_long with the length', () => {
    const fs = openLittlefs(formatLittlefs({ size: FS_SIZE }));
    expect(codeOf(() => fs.writeFile('x'.repeat(256), text('1')))).toBe('firmware.littlefs.name_too_long');
    expect(() => fs.mkdir('y'.repeat(300))).toThrow(/300 bytes, the image allows 255/);
  });

  it('path not found, not a directory, is a directory, exists, not empty', () => {
    const fs = openLittlefs(builtBig);
    expect(codeOf(() => fs.readFile('/nope.txt'))).toBe('firmware.littlefs.not_found');
    expect(() => fs.readFile('/ctz/missing/x')).toThrow(/\/ctz\/missing does not exist/);
    expect(codeOf(() => fs.list('/conf9.json'))).toBe('firmware.littlefs.not_dir');
    expect(codeOf(() => fs.readFile('/conf9.json/x'))).toBe('firmware.littlefs.not_dir');
    expect(codeOf(() => fs.readFile('/ctz'))).toBe('firmware.littlefs.is_dir');
    expect(codeOf(() => fs.writeFile('/ctz', text('x')))).toBe('firmware.littlefs.is_dir');
    expect(codeOf(() => fs.mkdir('/ctz'))).toBe('firmware.littlefs.exists');
    expect(codeOf(() => fs.remove('/ctz'))).toBe('firmware.littlefs.not_empty');
    expect(codeOf(() => fs.writeFile('/no/such/dir/f', text('x')))).toBe('firmware.littlefs.not_found');
  });

  it('not LittleFS: not_littlefs for erased flash, zeros and a SPIFFS-like blob', () => {
    expect(codeOf(() => openLittlefs(new Uint8Array(FS_SIZE).fill(0xff)))).toBe('firmware.littlefs.not_littlefs');
    expect(codeOf(() => openLittlefs(new Uint8Array(FS_SIZE)))).toBe('firmware.littlefs.not_littlefs');
    expect(codeOf(() => openLittlefs(rnd.bytes(FS_SIZE)))).toBe('firmware.littlefs.not_littlefs');
    expect(codeOf(() => openLittlefs(new Uint8Array(10)))).toBe('firmware.littlefs.not_littlefs');
  });

  it('unsupported version: a v1.7 or v2.2 superblock is refused with the version in the message', () => {
    for (const [version, shown] of [[0x00010007, '1.7'], [0x00020002, '2.2'], [0x00030000, '3.0']] as const) {
      const img = patchSuperblockVersion(formatLittlefs({ size: FS_SIZE }), version);
      let err: FirmwareError | undefined;
      try {
        openLittlefs(img);
      } catch (e) {
        err = e as FirmwareError;
      }
      expect(err?.code).toBe('firmware.littlefs.unsupported_version');
      expect(err?.message).toContain(shown);
    }
  });

  it('a block size that contradicts the superblock is refused', () => {
    expect(() => openLittlefs(builtBig, { blockSize: 512 })).toThrow(FirmwareError);
  });
});

/** Rewrites the version word in both superblock blocks and fixes their commit CRCs. */
function patchSuperblockVersion(image: Uint8Array, version: number): Uint8Array {
  const out = image.slice();
  for (const base of [0, 4096]) {
    new DataView(out.buffer, base + 20, 4).setUint32(0, version, true);
    // The commit CRC covers revision..CRC tag (offsets 0..48); recompute it.
    let c = 0xffffffff;
    for (let i = base; i < base + 48; i++) {
      c ^= out[i] as number;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    new DataView(out.buffer, base + 48, 4).setUint32(0, c >>> 0, true);
  }
  return out;
}
