// The STORED-only ZIP reader/writer against Python's zipfile and Info-ZIP unzip, and the
// device's container rules (spec mongoose-os.md §1.1) on archives written by Python itself.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hex, view } from '../bytes.ts';
import { readStoredZip, writeStoredZip } from '../bundle/index.ts';
import { crc32 } from '../bundle/zip-format.ts';
import { expectOk, python, run } from '../../scripts/lib/oracles.ts';
import { SeededRandom } from './seeded-random.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'espfleet-zip-'));

function sampleEntries(seed: number) {
  const rnd = new SeededRandom(seed);
  return [
    { name: 'manifest.json', data: new TextEncoder().encode('{"a": 1}'), extra: Uint8Array.from([0x3a, 0x29, 2, 0, 0x7b, 0x7d]) },
    { name: 'app.bin', data: rnd.bytes(rnd.int(1000, 3000)) },
    { name: 'empty.bin', data: new Uint8Array(0) },
    { name: 'dir/nested.img', data: rnd.bytes(777) },
    { name: 'ünïcode.bin', data: rnd.bytes(10) },
  ];
}

/** Offset of central directory record `index`, found by walking the local entries. */
function centralRecordOffset(zip: Uint8Array, index: number): number {
  const dv = view(zip);
  let at = 0;
  while (dv.getUint32(at, true) === 0x04034b50) at += 30 + dv.getUint16(at + 26, true) + dv.getUint16(at + 28, true) + dv.getUint32(at + 18, true);
  for (let i = 0; i < index; i++) at += 46 + dv.getUint16(at + 28, true) + dv.getUint16(at + 30, true) + dv.getUint16(at + 32, true);
  return at;
}

const LIST_ZIP = `
import json, sys, zipfile, zlib
with zipfile.ZipFile(sys.argv[1]) as zf:
    bad = zf.testzip()
    out = []
    for i in zf.infolist():
        data = zf.read(i)
        out.append({"name": i.filename, "method": i.compress_type, "crc": i.CRC, "size": i.file_size,
                    "csize": i.compress_size, "offset": i.header_offset, "flags": i.flag_bits,
                    "extra": i.extra.hex(), "data": data.hex(), "zcrc": zlib.crc32(data)})
    print(json.dumps({"bad": bad, "entries": out}))
`;
import { expectCode } from './error-codes.ts';

describe('zip writer: read back by independent tools', () => {
  it('Python zipfile lists and reads every entry with matching CRC, sizes and extras', async () => {
    const entries = sampleEntries(1);
    const zip = writeStoredZip(entries);
    const dir = tmp();
    writeFileSync(join(dir, 'a.zip'), zip);
    const listing = JSON.parse(expectOk(await python(LIST_ZIP, [join(dir, 'a.zip')]), 'zipfile')) as {
      bad: string | null;
      entries: { name: string; method: number; crc: number; size: number; csize: number; offset: number; flags: number; extra: string; data: string; zcrc: number }[];
    };
    expect(listing.bad).toBeNull();
    expect(listing.entries.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    for (const [i, e] of listing.entries.entries()) {
      const want = entries[i]!;
      expect(e.method).toBe(0);
      expect(e.flags & 0x8).toBe(0);
      expect(e.size).toBe(want.data.length);
      expect(e.csize).toBe(want.data.length);
      expect(e.data).toBe(hex(want.data));
      expect(e.crc).toBe(e.zcrc);
      expect(e.crc).toBe(crc32(want.data));
      expect(e.extra).toBe(hex(want.extra ?? new Uint8Array(0)));
    }
    expect(listing.entries[0]?.offset).toBe(0);
  });

  it('Info-ZIP unzip -t finds no errors', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.zip'), writeStoredZip(sampleEntries(2)));
    const r = await run('unzip', ['-t', join(dir, 'a.zip')]);
    expect(r.stdout).toContain('No errors detected');
    expect(r.code).toBe(0);
  });

  it('is deterministic and puts CRC and sizes in every local header', () => {
    const entries = sampleEntries(3);
    const a = writeStoredZip(entries);
    expect(hex(writeStoredZip(entries))).toBe(hex(a));
    for (const { info, data } of readStoredZip(a)) {
      const dv = view(a);
      expect(dv.getUint32(info.headerOffset + 14, true)).toBe(crc32(data));
      expect(dv.getUint32(info.headerOffset + 18, true)).toBe(data.length);
      expect(dv.getUint32(info.headerOffset + 22, true)).toBe(data.length);
      expect(dv.getUint16(info.headerOffset + 6, true) & 0x8).toBe(0);
    }
  });

  it('round-trips names, data and extras through the reader', () => {
    const entries = sampleEntries(4);
    const read = readStoredZip(writeStoredZip(entries));
    expect(read.map((e) => e.info.name)).toEqual(entries.map((e) => e.name));
    expect(read.map((e) => hex(e.data))).toEqual(entries.map((e) => hex(e.data)));
    expect(hex(read[0]!.info.extra)).toBe('3a2902007b7d');
  });

  it('crc32 agrees with zlib on random data', async () => {
    const rnd = new SeededRandom(5);
    const blobs = Array.from({ length: 20 }, () => rnd.bytes(rnd.int(0, 5000)));
    const out = expectOk(
      await python('import sys, zlib\nfor h in sys.stdin.read().split():\n  print(zlib.crc32(bytes.fromhex(h[1:])))', [], { input: blobs.map((b) => 'x' + hex(b)).join('\n') }),
      'zlib',
    );
    expect(out.trim().split('\n').map(Number)).toEqual(blobs.map((b) => crc32(b)));
  });
});

describe('zip reader: the device container rules on archives Python writes', () => {
  const write = (mode: string, streamed = false) => `
import sys, zipfile, io
class Unseekable(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
with open(sys.argv[1], 'wb') as raw:
    target = Unseekable(raw) if ${streamed ? 'True' : 'False'} else raw
    with zipfile.ZipFile(target, 'w', zipfile.${mode}) as zf:
        zf.writestr('manifest.json', '{"platform": "esp32"}' * 20)
        zf.writestr('app.bin', bytes(range(256)) * 8)
`;

  async function pythonZip(script: string): Promise<Uint8Array> {
    const path = join(tmp(), 'py.zip');
    expectOk(await python(script, [path]), 'zipfile write');
    return new Uint8Array(readFileSync(path));
  }

  it('accepts a STORED archive written by Python', async () => {
    const entries = readStoredZip(await pythonZip(write('ZIP_STORED')));
    expect(entries.map((e) => e.info.name)).toEqual(['manifest.json', 'app.bin']);
    expect(entries[1]?.data.length).toBe(2048);
  });

  const pythonZips: { deflated?: Uint8Array; streamed?: Uint8Array } = {};
  beforeAll(async () => {
    pythonZips.deflated = await pythonZip(write('ZIP_DEFLATED'));
    pythonZips.streamed = await pythonZip(write('ZIP_STORED', true));
  });

  it('rejects a DEFLATED archive: firmware.zip.compressed_entry', () => {
    const e = expectCode(() => readStoredZip(pythonZips.deflated!), 'firmware.zip.compressed_entry');
    expect(e.message).toContain('manifest.json');
    expect(e.message).toContain('method 8');
    expect(e.hint).toBeTruthy();
  });

  it('rejects a streamed archive (data descriptors): firmware.zip.data_descriptor', () => {
    const e = expectCode(() => readStoredZip(pythonZips.streamed!), 'firmware.zip.data_descriptor');
    expect(e.message).toMatch(/flags 0x8/);
  });
});

describe('zip reader: malformed archives give typed errors', () => {
  const good = () => writeStoredZip(sampleEntries(6));

  it('bad CRC names the entry and both values', () => {
    const zip = good();
    const app = readStoredZip(zip)[1]!.info;
    zip[app.dataOffset + 5] = (zip[app.dataOffset + 5] ?? 0) ^ 0x40;
    const e = expectCode(() => readStoredZip(zip), 'firmware.zip.bad_crc');
    expect(e.message).toContain('"app.bin"');
    expect(e.message).toMatch(/0x[0-9a-f]{8}.*0x[0-9a-f]{8}/);
  });

  it('a zero CRC is not checked, as on the device (in both header copies)', () => {
    const zip = good();
    const app = readStoredZip(zip)[1]!.info;
    view(zip).setUint32(app.headerOffset + 14, 0, true);
    expectCode(() => readStoredZip(zip), 'firmware.zip.central_directory_mismatch'); // the copies disagree
    view(zip).setUint32(centralRecordOffset(zip, 1) + 16, 0, true);
    zip[app.dataOffset] = (zip[app.dataOffset] ?? 0) ^ 1;
    expect(readStoredZip(zip)[1]?.info.crc32).toBe(0);
  });

  it('truncation anywhere is firmware.zip.truncated', () => {
    const zip = good();
    for (const cut of [1, 10, 29, 31, 200, zip.length - 23, zip.length - 1]) {
      expectCode(() => readStoredZip(zip.subarray(0, cut)), 'firmware.zip.truncated');
    }
  });

  it('compressed size ≠ size is firmware.zip.size_mismatch', () => {
    const zip = good();
    view(zip).setUint32(18, 3, true);
    expectCode(() => readStoredZip(zip), 'firmware.zip.size_mismatch');
  });

  it('the encryption flag is firmware.zip.encrypted_entry', () => {
    const zip = good();
    view(zip).setUint16(6, 1, true);
    expectCode(() => readStoredZip(zip), 'firmware.zip.encrypted_entry');
  });

  it('junk after the end record is firmware.zip.trailing_data', () => {
    const zip = good();
    const longer = new Uint8Array(zip.length + 3);
    longer.set(zip);
    expectCode(() => readStoredZip(longer), 'firmware.zip.trailing_data');
  });

  it('a central record that disagrees with the local header is refused', () => {
    const zip = good();
    const entries = readStoredZip(zip);
    const central = entries.at(-1)!.info.dataOffset + entries.at(-1)!.data.length;
    view(zip).setUint32(central + 42, 7, true); // first record's local header offset
    const e = expectCode(() => readStoredZip(zip), 'firmware.zip.central_directory_mismatch');
    expect(e.message).toContain('local header offset');
  });

  it('a non-zip is firmware.zip.not_a_zip; an archive with no entries is firmware.zip.empty', () => {
    expectCode(() => readStoredZip(new TextEncoder().encode('hello world, not a zip')), 'firmware.zip.not_a_zip');
    expectCode(() => readStoredZip(writeStoredZip([])), 'firmware.zip.empty');
  });
});
