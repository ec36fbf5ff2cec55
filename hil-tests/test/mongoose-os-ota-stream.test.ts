// The double's streaming fw.zip parser by itself (spec mongoose-os.md §1.1): what it accepts
// and refuses, fed in arbitrary splits as OTA.Write chunks arrive.
import { describe, expect, it } from 'vitest';
import { writeStoredZip } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { compareVersions } from '../mongoose-os/ota-updater.ts';
import { BundleStream, OtaRefused } from '../mongoose-os/ota-bundle-stream.ts';

const text = (s: string) => new TextEncoder().encode(s);

interface Seen {
  manifest?: string;
  extra?: Record<string, unknown>;
  files: Record<string, number[]>;
  ended: string[];
}

function parse(zip: Uint8Array, want: string[], split = 4096): Seen {
  const seen: Seen = { files: {}, ended: [] };
  const stream = new BundleStream({
    manifest: (m) => {
      seen.manifest = new TextDecoder().decode(m.bytes);
      seen.extra = m.extra;
      return new Set(want);
    },
    fileStart: (name) => void (seen.files[name] = []),
    fileData: (name, chunk) => seen.files[name]!.push(...chunk),
    fileEnd: (name) => void seen.ended.push(name),
  });
  for (let at = 0; at < zip.length; at += split) stream.feed(zip.subarray(at, at + split));
  expect(stream.done).toBe(true);
  return seen;
}

function refusal(zip: Uint8Array): string {
  try {
    parse(zip, ['a.bin']);
  } catch (e) {
    if (e instanceof OtaRefused) return e.message;
    throw e;
  }
  return 'accepted';
}

describe('the double\'s streaming bundle parser', () => {
  it('reads a demo bundle in 7-, 512- and 4093-byte feeds alike: manifest first, wanted files only', () => {
    const fw = makeDemoFirmware({ version: '2.0.0' });
    const a = parse(fw.bundle, ['fs.img'], 512);
    for (const split of [7, 4093]) {
      const b = parse(fw.bundle, ['fs.img'], split);
      expect(Buffer.from(b.files['fs.img']!).equals(Buffer.from(fw.parts.fs))).toBe(true);
    }
    expect(JSON.parse(a.manifest!).version).toBe('2.0.0');
    expect(Object.keys(a.files)).toEqual(['fs.img']);
    expect(Buffer.from(a.files['fs.img']!).equals(Buffer.from(fw.parts.fs))).toBe(true);
    expect(a.ended).toEqual(['fs.img']);
  });

  it('strips one directory level from names (the Python builder\'s <name>-<version>/)', () => {
    const zip = writeStoredZip([
      { name: 'app-1.0/manifest.json', data: text('{}') },
      { name: 'app-1.0/a.bin', data: text('hello') },
    ]);
    expect(String.fromCharCode(...parse(zip, ['a.bin']).files['a.bin']!)).toBe('hello');
  });

  it('refuses manifest.json not first, long names, duplicates and an empty archive', () => {
    expect(refusal(writeStoredZip([{ name: 'a.bin', data: text('x') }, { name: 'manifest.json', data: text('{}') }]))).toMatch(/manifest.json first/);
    expect(refusal(writeStoredZip([{ name: 'manifest.json', data: text('{}') }, { name: `${'n'.repeat(50)}`, data: text('x') }]))).toMatch(/too long/);
    expect(refusal(writeStoredZip([{ name: 'manifest.json', data: text('{}') }, { name: `${'n'.repeat(49)}`, data: text('x') }]))).toBe('accepted');
    expect(refusal(writeStoredZip([{ name: 'manifest.json', data: text('{}') }, { name: 'a.bin', data: text('x') }, { name: 'd/a.bin', data: text('y') }]))).toMatch(/Duplicate/);
    expect(refusal(writeStoredZip([]))).toMatch(/Empty archive|bad signature/);
  });

  it('refuses a compressed entry, a data descriptor, a CRC mismatch and junk', () => {
    const good = writeStoredZip([{ name: 'manifest.json', data: text('{"a":1}') }, { name: 'a.bin', data: text('payload') }]);
    const secondHeader = Buffer.from(good).indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), 4);
    const compressed = good.slice();
    compressed[secondHeader + 8] = 8;
    expect(refusal(compressed)).toMatch(/Cannot handle compressed/);
    const descriptor = good.slice();
    descriptor[6] = (descriptor[6] ?? 0) | 0x08;
    expect(refusal(descriptor)).toMatch(/sizes not in the local header/);
    const badCrc = good.slice();
    badCrc[secondHeader + 14] = (badCrc[secondHeader + 14] ?? 0) ^ 1;
    expect(refusal(badCrc)).toMatch(/CRC mismatch for a.bin/);
    expect(refusal(text('not a zip at all'))).toMatch(/Malformed archive/);
  });

  it('finds the 0x293A signature block on manifest.json\'s local header among other extras', () => {
    const sigJson = text('{"sig0":"AAAA"}');
    const extra = new Uint8Array(4 + 3 + 4 + sigJson.length);
    extra.set([0x55, 0x54, 3, 0, 1, 2, 3, 0x3a, 0x29, sigJson.length, 0]);
    extra.set(sigJson, 11);
    const zip = writeStoredZip([{ name: 'manifest.json', data: text('{}'), extra }, { name: 'a.bin', data: text('x') }]);
    expect(parse(zip, []).extra).toEqual({ sig0: 'AAAA' });
  });

  it('orders versions numerically for anti-rollback', () => {
    expect(compareVersions('1.10.0', '1.9.9')).toBe(1);
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0);
    expect(compareVersions('1.2', '1.2.1')).toBe(-1);
    expect(compareVersions('2026.1.2', '2026.01.2')).toBe(0);
  });
});
