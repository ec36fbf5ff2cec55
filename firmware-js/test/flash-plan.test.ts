// Flash plans for the demo bundle plus one board's files: addresses from the
// partition table, exactly the right parts flagged for encryption, device files
// in the fs image (read back by the reference littlefs), and clear errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBundle, writeBundle, type Manifest } from '../bundle/index.ts';
import { planFlash } from '../flash-plan.ts';
import { openLittlefs } from '../littlefs/index.ts';
import { makeDemoFirmware } from '../testgen/demo-firmware.ts';
import { expectOk, python } from '../../scripts/lib/oracles.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { codeOf } from './error-codes.ts';

const text = (s: string) => new TextEncoder().encode(s);
const deviceFiles = {
  'conf9.json': text('{"device":{"id":"esp32_A1B2C3"}}'),
  'device.crt': text('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'),
  'ca.pem': text('-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n'),
};

describe('flash plan', () => {
  const demo = makeDemoFirmware({ version: '1.4.0' });
  const bundle = readBundle(demo.bundle);

  it('places every part at its partition-table address and flags exactly the encrypted ones', () => {
    const plan = planFlash(bundle, { deviceFiles, flashSize: 4 * 1024 * 1024 });
    expect(plan.map((r) => [r.part, r.address, r.encrypt])).toEqual([
      ['boot', 0x1000, true],
      ['pt', 0x8000, true],
      ['nvs', 0x9000, false],
      ['otadata', 0xd000, true],
      ['app', 0x10000, true],
      ['fs', 0x190000, true],
    ]);
    for (const region of plan) expect(region.bytes.length % 0x1000).toBe(0);
    expect(plan.find((r) => r.part === 'nvs')?.bytes).toEqual(new Uint8Array(0x4000).fill(0xff));
    expect(plan.find((r) => r.part === 'app')?.bytes.subarray(0, demo.parts.app.length)).toEqual(demo.parts.app);
  });

  it('writes the device files into the fs image, keeps the bundle files, and the reference littlefs agrees', async () => {
    const fs = planFlash(bundle, { deviceFiles }).find((r) => r.part === 'fs');
    if (!fs) throw new Error('no fs region');
    const image = openLittlefs(fs.bytes);
    expect(new TextDecoder().decode(image.readFile('/conf9.json'))).toContain('esp32_A1B2C3');
    expect(image.walk().map((e) => e.path).sort()).toEqual(['/ca.pem', '/conf0.json', '/conf9.json', '/device.crt', '/init.js']);

    const dir = mkdtempSync(join(tmpdir(), 'espfleet-plan-'));
    writeFileSync(join(dir, 'fs.img'), fs.bytes);
    const listing = expectOk(
      await python(
        `
import littlefs, sys, json
data = bytearray(open(sys.argv[1], 'rb').read())
fs = littlefs.LittleFS(block_size=4096, block_count=len(data) // 4096, mount=False)
fs.context.buffer = data
fs.mount()
print(json.dumps({name: fs.open(name, 'rb').read().decode() for name in sorted(fs.listdir('/'))}))
`,
        [join(dir, 'fs.img')],
      ),
      'littlefs-python',
    );
    const files = JSON.parse(listing) as Record<string, string>;
    expect(files['conf9.json']).toBe('{"device":{"id":"esp32_A1B2C3"}}');
    expect(Object.keys(files).sort()).toEqual(['ca.pem', 'conf0.json', 'conf9.json', 'device.crt', 'init.js']);

    const inspected = await espfleet(['fw', 'inspect', join(dir, 'fs.img')]);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toMatch(/conf9\.json/);
    expect(inspected.stdout).toMatch(/device\.crt/);
  });

  it('skips flash:false parts and refuses plans that cannot be right', () => {
    const manifest = structuredClone(bundle.manifest) as Manifest;
    const withParts = (parts: Manifest['parts']) => readBundle(writeBundle({ manifest: { ...manifest, parts }, files: bundle.files }));

    const skipped = planFlash(withParts({ ...manifest.parts, nvs: { ...manifest.parts.nvs, flash: false } }));
    expect(skipped.map((r) => r.part)).not.toContain('nvs');

    expect(codeOf(() => planFlash(withParts({ ...manifest.parts, app: { ...manifest.parts.app, encrypt: false } })))).toBe(
      'firmware.plan.encrypt_mismatch',
    );
    expect(codeOf(() => planFlash(withParts({ ...manifest.parts, app: { ...manifest.parts.app, ptn: 'app_9' } })))).toBe(
      'firmware.plan.unknown_partition',
    );
    expect(codeOf(() => planFlash(withParts({ ...manifest.parts, nvs: { ...manifest.parts.nvs, size: 0x5000 } })))).toBe(
      'firmware.plan.part_too_big',
    );
    expect(codeOf(() => planFlash(bundle, { flashSize: 1024 * 1024 }))).toBe('firmware.plan.beyond_flash');
  });
});
