// Cross-checks generated and built images against Espressif's esptool 5.6
// (`image-info`, and `merge-bin` for the flash-parameter patch at 0x1000): the
// oracle must accept them and list the same segments and app/bootloader fields.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { buildImage, parseImage, setFlashParams, type EspImage } from '../image/index.ts';
import { makeAppImage, makeBootloaderImage } from '../testgen/images.ts';
import { SeededRandom } from './seeded-random.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-image-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

interface OracleInfo {
  entry: number;
  segmentCount: number;
  flashSize: string;
  flashFreq: string;
  flashMode: string;
  chipId: number;
  minRev: string;
  maxRev: string;
  segments: { length: number; loadAddr: number; fileOffset: number; memory: string }[];
  checksum: { stored: number; valid: boolean };
  hash: { computed: string; valid: boolean } | null;
  fields: Record<string, string>;
}

async function imageInfo(image: Uint8Array): Promise<OracleInfo> {
  const path = join(dir, `image-${fileNo++}.bin`);
  writeFileSync(path, image);
  const out = expectOk(await esptool(['image-info', path]), 'esptool image-info');
  const field = (label: string) => {
    const m = new RegExp(`^${label}: (.*)$`, 'm').exec(out);
    if (!m) throw new Error(`esptool output lacks "${label}":\n${out}`);
    return (m[1] as string).trim();
  };
  const segments = [...out.matchAll(/^\s+\d+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.*)$/gm)].map((m) => ({
    length: parseInt(m[1] as string, 16),
    loadAddr: parseInt(m[2] as string, 16),
    fileOffset: parseInt(m[3] as string, 16),
    memory: (m[4] as string).trim(),
  }));
  const checksum = /^Checksum: 0x([0-9a-f]+) \((valid|invalid)/m.exec(out);
  const hash = /^Validation hash: ([0-9a-f]{64}) \((valid|invalid)\)/m.exec(out);
  const fields: Record<string, string> = {};
  for (const m of out.matchAll(/^(Project name|App version|Compile time|ELF file SHA256|ESP-IDF|Secure version|Bootloader version): (.*)$/gm)) {
    fields[m[1] as string] = (m[2] as string).trim();
  }
  return {
    entry: parseInt(field('Entry point'), 16),
    segmentCount: Number(field('Segments')),
    flashSize: field('Flash size'),
    flashFreq: field('Flash freq'),
    flashMode: field('Flash mode'),
    chipId: Number(/^(\d+)/.exec(field('Chip ID'))?.[1]),
    minRev: field('Minimal chip revision'),
    maxRev: field('Maximal chip revision'),
    segments,
    checksum: { stored: parseInt(checksum?.[1] ?? 'x', 16), valid: checksum?.[2] === 'valid' },
    hash: hash ? { computed: hash[1] as string, valid: hash[2] === 'valid' } : null,
    fields,
  };
}

/** Asserts that esptool and parseImage read the same image the same way. */
function expectSameReading(oracle: OracleInfo, ours: EspImage): void {
  expect(oracle.entry).toBe(ours.entry);
  expect(oracle.segmentCount).toBe(ours.segments.length);
  expect(oracle.flashSize).toBe(ours.flashSize.name);
  expect(oracle.flashFreq).toBe(ours.flashFreq.name);
  expect(oracle.flashMode).toBe(ours.flashMode.name?.toUpperCase());
  expect(oracle.chipId).toBe(ours.chipId);
  expect(oracle.minRev).toBe(`v${Math.floor(ours.minChipRevFull / 100)}.${ours.minChipRevFull % 100}, (legacy min_rev = ${ours.minRev})`);
  expect(oracle.maxRev).toBe(`v${Math.floor(ours.maxChipRevFull / 100)}.${ours.maxChipRevFull % 100}`);
  expect(oracle.segments).toEqual(
    ours.segments.map((s) => ({ length: s.length, loadAddr: s.loadAddr, fileOffset: s.fileOffset, memory: s.memory.join(', ') })),
  );
  expect(oracle.checksum).toEqual({ stored: ours.checksum.stored, valid: ours.checksum.ok });
  expect(oracle.hash).toEqual(ours.sha256 ? { computed: ours.sha256.computed, valid: ours.sha256.ok } : null);
}

describe('esptool image-info accepts generated images', () => {
  it('the bootloader: valid checksum and hash, same segments, bootloader description', async () => {
    const boot = makeBootloaderImage();
    const ours = parseImage(boot);
    const oracle = await imageInfo(boot);
    expectSameReading(oracle, ours);
    expect(oracle.checksum.valid && oracle.hash?.valid).toBe(true);
    expect(ours.bootloaderDesc).not.toBeNull();
    expect(oracle.fields).toEqual({
      'Bootloader version': String(ours.bootloaderDesc?.version),
      'ESP-IDF': ours.bootloaderDesc?.idfVer,
      'Compile time': ours.bootloaderDesc?.dateTime,
    });
  });

  it.each([
    ['a small app', { version: '1.0.0', appSize: 0x4000, seed: 3 }],
    ['a default app', { version: '2.3.4-beta', projectName: 'thermostat', seed: 4, secureVersion: 2 }],
    ['a 1.5 MB app', { version: '10.0.0', appSize: 0x170000, seed: 5 }],
  ])('%s: same segments and esp_app_desc_t fields', async (_, opts) => {
    const app = makeAppImage(opts);
    const ours = parseImage(app);
    const oracle = await imageInfo(app);
    expectSameReading(oracle, ours);
    expect(oracle.checksum.valid && oracle.hash?.valid).toBe(true);
    expect(ours.warnings).toEqual([]);
    const d = ours.appDesc;
    expect(d?.version).toBe(opts.version);
    expect(oracle.fields).toEqual({
      'Project name': d?.projectName,
      'App version': d?.version,
      'Compile time': `${d?.date} ${d?.time}`,
      'ELF file SHA256': d?.appElfSha256,
      'ESP-IDF': d?.idfVer,
      'Secure version': String(d?.secureVersion),
    });
  });

  it('random segment sets built with the esptool layout read the same in both', async () => {
    const rnd = new SeededRandom(0xe5b);
    const ramBases = [0x3ffb0000, 0x3ffe0000, 0x40080000, 0x40090000, 0x400c0000];
    for (let round = 0; round < 4; round++) {
      const segments = ramBases
        .filter(() => rnd.int(0, 2) > 0)
        .map((base) => ({ loadAddr: base + 4 * rnd.int(0, 64), data: rnd.bytes(rnd.int(1, 0x3000)) }));
      if (rnd.int(0, 1)) segments.push({ loadAddr: 0x3f400020 + 0x10000 * rnd.int(0, 3), data: rnd.bytes(rnd.int(4, 0x14000)) });
      segments.push({ loadAddr: 0x400d0018 + 4 * rnd.int(0, 4) + 0x10000 * rnd.int(0, 3), data: rnd.bytes(rnd.int(4, 0x12000)) });
      const img = buildImage({ segments, entry: 0x40080000 + 4 * rnd.int(0, 100), flashMode: rnd.pick(['qio', 'dio', 'dout'] as const), hashAppended: rnd.int(0, 1) === 1 });
      const ours = parseImage(img);
      expect(ours.warnings).toEqual([]);
      expectSameReading(await imageInfo(img), ours);
    }
  });

  it('damaged variants: esptool and parseImage agree on what is invalid', async () => {
    const app = makeAppImage({ version: '1.0.0', appSize: 0x4000 });
    const p = parseImage(app);
    const flipped = app.slice();
    flipped[(p.segments[1]?.dataOffset ?? 0) + 3] = (flipped[(p.segments[1]?.dataOffset ?? 0) + 3] as number) ^ 0x80;
    const badHash = app.slice();
    badHash[app.length - 7] = (badHash[app.length - 7] as number) ^ 0x01;
    for (const img of [flipped, badHash]) {
      const ours = parseImage(img);
      const oracle = await imageInfo(img);
      expectSameReading(oracle, ours);
      expect(ours.sha256?.ok).toBe(false);
    }
  });
});

describe('setFlashParams matches esptool merge-bin at the bootloader offset', () => {
  it.each([
    [{ mode: 'qio', size: '8MB', freq: '40m' }, ['--flash-mode', 'qio', '--flash-size', '8MB', '--flash-freq', '40m']],
    [{ mode: 'dout', size: '2MB', freq: '26m' }, ['--flash-mode', 'dout', '--flash-size', '2MB', '--flash-freq', '26m']],
    [{ size: '16MB' }, ['--flash-size', '16MB']],
  ] as const)('%j', async (params, args) => {
    const boot = makeBootloaderImage({ seed: 11 });
    const inPath = join(dir, `boot-${fileNo++}.bin`);
    const outPath = join(dir, `merged-${fileNo++}.bin`);
    writeFileSync(inPath, boot);
    expectOk(await esptool(['--chip', 'esp32', 'merge-bin', '-o', outPath, ...args, '0x1000', inPath]), 'esptool merge-bin');
    const merged = new Uint8Array(readFileSync(outPath)).subarray(0x1000);
    const ours = setFlashParams(boot, params);
    expect(Buffer.from(ours).equals(Buffer.from(merged))).toBe(true);
  });
});
