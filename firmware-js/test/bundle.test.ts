// fw.zip bundles: write → read round trips, Python's zipfile and hashlib as independent
// readers, the device's rules (spec mongoose-os.md §1.1) and part digests (§1.2), seeded fuzz.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hex } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import {
  partData,
  readBundle,
  readStoredZip,
  serializeManifest,
  writeBundle,
  writeStoredZip,
  type Manifest,
  type ZipWriteEntry,
} from '../bundle/index.ts';
import { expectOk, python } from '../../scripts/lib/oracles.ts';
import { SeededRandom } from './seeded-random.ts';
import { expectCode } from './error-codes.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const sha = (algorithm: string, data: Uint8Array) => createHash(algorithm).update(data).digest('hex');

function sampleInput(seed = 1) {
  const rnd = new SeededRandom(seed);
  const files = new Map<string, Uint8Array>([
    ['bootloader.bin', rnd.bytes(300)],
    ['app.bin', rnd.bytes(2000)],
    ['fs.img', rnd.bytes(1024)],
  ]);
  const manifest: Manifest = {
    name: 'demo',
    platform: 'esp32',
    version: '1.2.3',
    build_id: '20260101-000000/1.2.3@test',
    build_timestamp: '2026-01-01T00:00:00Z',
    parts: {
      boot: { type: 'boot', addr: 0x1000, src: 'bootloader.bin', encrypt: true, update: false },
      app: { type: 'app', ptn: 'app_0', src: 'app.bin', encrypt: true },
      fs: { type: 'fs', ptn: 'fs_0', src: 'fs.img', fs_size: 1024, encrypt: true },
      nvs: { type: 'nvs', ptn: 'nvs', size: 0x4000, fill: 0xff, encrypt: false },
    },
  };
  return { manifest, files };
}

/** The manifest writeBundle should store: every src part gains size and both digests. */
function withDigests(manifest: Manifest, files: Map<string, Uint8Array>): Manifest {
  const out = structuredClone(manifest);
  for (const part of Object.values(out.parts)) {
    const data = part.src === undefined ? undefined : files.get(part.src);
    if (data) Object.assign(part, { size: data.length, cs_sha1: sha('sha1', data), cs_sha256: sha('sha256', data) });
  }
  return out;
}

/** A raw archive with the given manifest (serialised as mos would) and files, bypassing writeBundle's checks. */
function rawBundle(manifest: unknown, files: [string, Uint8Array][], manifestName = 'manifest.json'): Uint8Array {
  const entries: ZipWriteEntry[] = [
    { name: manifestName, data: enc(JSON.stringify(manifest, null, 1)) },
    ...files.map(([name, data]) => ({ name, data })),
  ];
  return writeStoredZip(entries);
}

const flip = (bytes: Uint8Array, at: number, mask: number) => void (bytes[at] = (bytes[at] ?? 0) ^ mask);
const tmp = () => mkdtempSync(join(tmpdir(), 'espfleet-bundle-'));

describe('bundle: write → read', () => {
  it('gives back the manifest (with recomputed size and digests) and identical files', () => {
    const input = sampleInput();
    const before = structuredClone(input.manifest);
    const bundle = readBundle(writeBundle(input));
    expect(input.manifest).toEqual(before); // the caller's manifest is not modified
    expect(bundle.manifest).toEqual(withDigests(input.manifest, input.files));
    expect([...bundle.files.keys()].sort()).toEqual([...input.files.keys()].sort());
    for (const [name, data] of input.files) expect(hex(bundle.files.get(name)!)).toBe(hex(data));
    expect(bundle.extra).toEqual({});
    expect(hex(bundle.manifestBytes)).toBe(hex(serializeManifest(bundle.manifest)));
    expect(bundle.entries[0]).toMatchObject({ name: 'manifest.json', headerOffset: 0 });
  });

  it('is deterministic and re-writing a read bundle gives the same bytes', () => {
    const zip = writeBundle(sampleInput());
    expect(hex(writeBundle(sampleInput()))).toBe(hex(zip));
    const bundle = readBundle(zip);
    expect(hex(writeBundle({ manifest: bundle.manifest, files: bundle.files }))).toBe(hex(zip));
  });

  it('replaces stale size and digests, and stores a src path under its base name', () => {
    const { manifest, files } = sampleInput();
    manifest.parts['app'] = { ...manifest.parts['app'], src: 'build/out/app.bin', size: 1, cs_sha1: '0'.repeat(40) };
    const bundle = readBundle(writeBundle({ manifest, files: new Map([...files].map(([k, v]) => [k === 'app.bin' ? 'build/out/app.bin' : k, v])) }));
    expect(bundle.manifest.parts['app']).toMatchObject({ src: 'app.bin', size: 2000, cs_sha1: sha('sha1', files.get('app.bin')!) });
  });

  it('carries extra attributes in the 0x293A block as sorted compact JSON', () => {
    const zip = writeBundle({ ...sampleInput(), extra: { ok: true, build: 'ci-7', n: 3 } });
    const bundle = readBundle(zip);
    expect(bundle.extra).toEqual({ build: 'ci-7', n: 3, ok: true });
    const json = '{"build":"ci-7","n":3,"ok":true}';
    expect(hex(bundle.entries[0]!.extra)).toBe('3a29' + json.length.toString(16).padStart(2, '0') + '00' + hex(enc(json)));
  });

  it('partData gives file bytes or size × fill', () => {
    const input = sampleInput();
    const bundle = readBundle(writeBundle(input));
    expect(hex(partData(bundle, 'app'))).toBe(hex(input.files.get('app.bin')!));
    const nvs = partData(bundle, 'nvs');
    expect(nvs.length).toBe(0x4000);
    expect(nvs.every((b) => b === 0xff)).toBe(true);
    expect(expectCode(() => partData(bundle, 'nope'), 'firmware.bundle.no_such_part').message).toContain('app');
    expectCode(() => partData(bundle, 'toString'), 'firmware.bundle.no_such_part');
    bundle.manifest.parts['desc'] = { type: 'data', ptn: 'x' };
    expectCode(() => partData(bundle, 'desc'), 'firmware.bundle.no_part_data');
  });
});

describe('bundle: independent readers (Python zipfile + hashlib)', () => {
  it('Python lists and reads every entry with matching CRCs; manifest.json is the first local header; digests agree', async () => {
    const input = sampleInput(2);
    const dir = tmp();
    writeFileSync(join(dir, 'fw.zip'), writeBundle(input));
    const script = `
import hashlib, json, sys, zipfile, zlib
with zipfile.ZipFile(sys.argv[1]) as zf:
    assert zf.testzip() is None
    infos = zf.infolist()
    manifest = json.loads(zf.read('manifest.json'))
    files = {i.filename: zf.read(i) for i in infos}
    out = {"order": [i.filename for i in infos], "offsets": [i.header_offset for i in infos],
           "methods": sorted({i.compress_type for i in infos}), "descriptors": [i.flag_bits & 8 for i in infos],
           "crc_ok": all(zlib.crc32(files[i.filename]) == i.CRC for i in infos), "manifest": manifest,
           "digests": {n: [len(d), hashlib.sha1(d).hexdigest(), hashlib.sha256(d).hexdigest()] for n, d in files.items()}}
    print(json.dumps(out))
`;
    const out = JSON.parse(expectOk(await python(script, [join(dir, 'fw.zip')]), 'zipfile')) as {
      order: string[];
      offsets: number[];
      methods: number[];
      descriptors: number[];
      crc_ok: boolean;
      manifest: Manifest;
      digests: Record<string, [number, string, string]>;
    };
    expect(out.order[0]).toBe('manifest.json');
    expect(out.offsets[0]).toBe(0);
    expect(out.order.slice(1).sort()).toEqual([...input.files.keys()].sort());
    expect(out.methods).toEqual([0]);
    expect(out.descriptors.every((d) => d === 0)).toBe(true);
    expect(out.crc_ok).toBe(true);
    for (const part of Object.values(out.manifest.parts)) {
      if (part.src === undefined) continue;
      expect([part.size, part.cs_sha1, part.cs_sha256]).toEqual(out.digests[part.src]);
    }
  });

  it('reads a bundle in the Python builder layout (entries under <name>-<version>/)', async () => {
    const script = `
import hashlib, json, sys, zipfile
app = bytes(range(256)) * 7
manifest = {"name": "demo", "platform": "esp32", "version": "2.0", "build_id": "b/2.0",
            "parts": {"app": {"type": "app", "ptn": "app_0", "src": "demo.bin", "size": len(app),
                              "cs_sha1": hashlib.sha1(app).hexdigest(), "cs_sha256": hashlib.sha256(app).hexdigest()}}}
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as zf:
    zf.writestr('demo-2.0/manifest.json', json.dumps(manifest, indent=2, sort_keys=True))
    zf.writestr('demo-2.0/demo.bin', app)
`;
    const path = join(tmp(), 'py.zip');
    expectOk(await python(script, [path]), 'zipfile');
    const bundle = readBundle(new Uint8Array(readFileSync(path)));
    expect(bundle.entries.map((e) => e.name)).toEqual(['demo-2.0/manifest.json', 'demo-2.0/demo.bin']);
    expect([...bundle.files.keys()]).toEqual(['demo.bin']);
    expect(bundle.manifest.version).toBe('2.0');
    expect(partData(bundle, 'app').length).toBe(256 * 7);
  });
});

describe('bundle: the device rules, each with its code', () => {
  const good = () => {
    const { manifest, files } = sampleInput(3);
    return { manifest: withDigests(manifest, files), files: [...files] as [string, Uint8Array][] };
  };

  it('manifest.json must come first', () => {
    const { manifest, files } = good();
    const zip = writeStoredZip([{ name: 'app.bin', data: files[1]![1] }, { name: 'manifest.json', data: enc(JSON.stringify(manifest)) }]);
    const e = expectCode(() => readBundle(zip), 'firmware.bundle.manifest_not_first');
    expect(e.message).toContain('"app.bin"');
  });

  it('one directory level is stripped; the rest must be under 50 bytes', () => {
    const { manifest, files } = good();
    const name49 = 'n'.repeat(45) + '.bin';
    const ok = structuredClone(manifest);
    ok.parts['extra'] = { src: name49, cs_sha1: sha('sha1', new Uint8Array(1)) };
    const bundle = readBundle(rawBundle(ok, [...files, [`dir/${name49}`, new Uint8Array(1)]], 'x/manifest.json'));
    expect(bundle.files.has(name49)).toBe(true);

    const e = expectCode(() => readBundle(rawBundle(manifest, [...files, [`dir/${name49}x`, new Uint8Array(1)]])), 'firmware.bundle.name_too_long');
    expect(e.message).toContain('50 bytes');
    // Only the first '/' goes: "a/b/<48>" leaves 50 bytes.
    expectCode(() => readBundle(rawBundle(manifest, [...files, [`a/b/${'c'.repeat(48)}`, new Uint8Array(1)]])), 'firmware.bundle.name_too_long');
    // Multi-byte names count bytes, not characters.
    expectCode(() => readBundle(rawBundle(manifest, [...files, ['é'.repeat(25), new Uint8Array(1)]])), 'firmware.bundle.name_too_long');
  });

  it('"manifest.json" must be exact (two levels deep is a different name)', () => {
    const { manifest, files } = good();
    expectCode(() => readBundle(rawBundle(manifest, files, 'a/b/manifest.json')), 'firmware.bundle.manifest_not_first');
  });

  it.each(['platform', 'version', 'build_id', 'parts'])('a manifest without %s is refused', (field) => {
    const { manifest, files } = good();
    const m: Record<string, unknown> = { ...manifest };
    delete m[field];
    expectCode(() => readBundle(rawBundle(m, files)), 'firmware.manifest.missing_field');
  });

  it.each([
    ['cs_sha1', 'sha1'],
    ['cs_sha256', 'sha256'],
  ] as const)('a wrong %s names the part and the digest', (field, algorithm) => {
    const { manifest, files } = good();
    const wrong = field === 'cs_sha1' ? '1'.repeat(40) : '2'.repeat(64);
    (manifest.parts['fs'] as Record<string, unknown>)[field] = wrong;
    const e = expectCode(() => readBundle(rawBundle(manifest, files)), 'firmware.bundle.checksum_mismatch');
    expect(e.message).toContain('part "fs"');
    expect(e.message).toContain(field);
    expect(e.message).toContain(wrong);
    expect(e.message).toContain(sha(algorithm, files[2]![1]));
  });

  it('a wrong size, a missing file, a part without digests and duplicate names are refused', () => {
    const base = good();
    const sized = structuredClone(base.manifest);
    sized.parts['app']!.size = 1999;
    expect(expectCode(() => readBundle(rawBundle(sized, base.files)), 'firmware.bundle.size_mismatch').message).toContain('1999');

    expectCode(() => readBundle(rawBundle(base.manifest, base.files.slice(1))), 'firmware.bundle.missing_file');

    const bare = structuredClone(base.manifest);
    delete bare.parts['app']!.cs_sha1;
    delete bare.parts['app']!.cs_sha256;
    expectCode(() => readBundle(rawBundle(bare, base.files)), 'firmware.bundle.unchecked_part');

    expectCode(() => readBundle(rawBundle(base.manifest, [...base.files, ['again/app.bin', new Uint8Array(3)]])), 'firmware.bundle.duplicate_file');
    expectCode(() => readBundle(rawBundle(base.manifest, [...base.files, ['x/manifest.json', enc('{}')]])), 'firmware.bundle.duplicate_file');
  });

  it('files no part names and directory entries are allowed, as on the device', () => {
    const { manifest, files } = good();
    const bundle = readBundle(rawBundle(manifest, [['demo/', new Uint8Array(0)], ...files, ['README.txt', enc('hi')]]));
    expect(bundle.files.has('README.txt')).toBe(true);
    expect(bundle.files.has('')).toBe(false);
  });
});

describe('bundle: tampering', () => {
  const input = sampleInput(4);
  const zip = writeBundle(input);
  const stored = readStoredZip(zip);

  it('changing any sampled byte of a part file fails: bad CRC, or with the CRC fixed, the part digest', () => {
    const rnd = new SeededRandom(44);
    for (const { info } of stored.slice(1)) {
      for (let i = 0; i < 8; i++) {
        const at = rnd.int(0, info.size - 1);
        const flipped = zip.slice();
        flip(flipped, info.dataOffset + at, 1 << rnd.int(0, 7));
        expectCode(() => readBundle(flipped), 'firmware.zip.bad_crc');
        // An attacker re-packs with honest CRCs: the manifest digest still catches it.
        const repacked = writeStoredZip(
          readStoredZip(zip).map((e) => ({ name: e.info.name, data: e.info.name === info.name ? flipped.subarray(info.dataOffset, info.dataOffset + info.size) : e.data, extra: e.info.extra })),
        );
        const e = expectCode(() => readBundle(repacked), 'firmware.bundle.checksum_mismatch');
        const partName = Object.entries(input.manifest.parts).find(([, p]) => p.src === info.name)?.[0];
        expect(e.message).toContain(`part "${partName}"`);
      }
    }
  });

  it('changing any sampled byte of manifest.json in place fails its CRC', () => {
    const m = stored[0]!.info;
    for (let at = 0; at < m.size; at += 7) {
      const flipped = zip.slice();
      flip(flipped, m.dataOffset + at, 0x01);
      expectCode(() => readBundle(flipped), 'firmware.zip.bad_crc');
    }
  });
});

describe('bundle: writeBundle refuses inputs it cannot make into a valid bundle', () => {
  it('a src with no file, a file with no part, an over-long name, a bad manifest', () => {
    const { manifest, files } = sampleInput();
    const fewer = new Map(files);
    fewer.delete('fs.img');
    expect(expectCode(() => writeBundle({ manifest, files: fewer }), 'firmware.bundle.missing_file').message).toContain('"fs.img"');
    expect(expectCode(() => writeBundle({ manifest, files: new Map([...files, ['stray.bin', new Uint8Array(1)]]) }), 'firmware.bundle.unused_file').message).toContain('stray.bin');
    const long = structuredClone(manifest);
    long.parts['app']!.src = 'a'.repeat(50);
    expectCode(() => writeBundle({ manifest: long, files: new Map([...files].map(([k, v]) => [k === 'app.bin' ? 'a'.repeat(50) : k, v])) }), 'firmware.bundle.name_too_long');
    expectCode(() => writeBundle({ manifest: { ...manifest, version: '' }, files }), 'firmware.manifest.missing_field');
    expectCode(() => writeBundle({ manifest: { ...manifest, oops: () => 1 } as Manifest, files }), 'firmware.manifest.not_json');
  });

  it('accepts files as a plain record', () => {
    const { manifest, files } = sampleInput();
    expect(hex(writeBundle({ manifest, files: Object.fromEntries(files) }))).toBe(hex(writeBundle({ manifest, files })));
  });
});

describe('bundle: seeded fuzz', () => {
  it('10,000 mutated bundles through readBundle: only FirmwareError escapes, no hang', () => {
    const rnd = new SeededRandom(0x62756e64);
    const zip = writeBundle({ ...sampleInput(5), extra: { sig0: 'AAAA', note: 'x' } });
    const entries = readStoredZip(zip);
    const codes = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = rnd.mutate(zip);
      } else {
        // Mutate one entry's data, name or extra and re-pack with honest CRCs to reach the deeper checks.
        const target = rnd.int(0, entries.length - 1);
        const what = rnd.int(0, 2);
        input = writeStoredZip(
          entries.map((e, index) => {
            const mutateHere = index === target;
            const name = mutateHere && what === 1 ? new TextDecoder().decode(rnd.mutate(enc(e.info.name))) : e.info.name;
            return {
              name,
              data: mutateHere && what === 0 ? rnd.mutate(e.data) : e.data,
              extra: mutateHere && what === 2 ? rnd.mutate(e.info.extra) : e.info.extra,
            };
          }),
        );
      }
      try {
        readBundle(input);
        accepted++;
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    // The fuzz reaches every layer: container, names, manifest, digests, signature block.
    for (const code of ['firmware.zip.bad_crc', 'firmware.zip.truncated', 'firmware.manifest.bad_json', 'firmware.bundle.checksum_mismatch', 'firmware.signature.bad_block']) {
      expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
