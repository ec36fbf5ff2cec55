// Bundles carry the real agent (spec mongoose-os.md §2.5 FS merge): `fw demo-bundle` puts
// agent/fs/ in the firmware's fs and leaves per-device files (conf9.json, certificates,
// keys) out; the generator itself refuses them.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { partData, readBundle } from '../../firmware-js/bundle/index.ts';
import { openLittlefs } from '../../firmware-js/littlefs/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { agentFsFiles } from '../agent-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-agent-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fsOf(zip: string): Map<string, string> {
  const bundle = readBundle(new Uint8Array(readFileSync(zip)));
  const fs = openLittlefs(partData(bundle, 'fs'));
  return new Map(fs.list('/').filter((e) => e.type === 'file').map((e) => [e.name, new TextDecoder().decode(fs.readFile(`/${e.name}`))]));
}

describe('bundles carry the agent', () => {
  it('fw demo-bundle (from any directory) puts agent/fs/*.js and a dummy conf0.json in the fs, nothing else', async () => {
    const out = join(dir, 'fw.zip');
    const r = await espfleet(['fw', 'demo-bundle', '--out', out, '--version', '1.4.0'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fs: .*agent\/fs \(espfleet_cmd\.js, espfleet_crypto\.js, espfleet_json\.js, espfleet_keys\.js, espfleet_ota\.js, espfleet_renew\.js, init\.js\)/);
    const files = fsOf(out);
    const agent = agentFsFiles();
    expect([...files.keys()].sort()).toEqual(['conf0.json', ...Object.keys(agent)].sort());
    for (const [name, data] of Object.entries(agent)) expect(files.get(name), name).toBe(new TextDecoder().decode(data));
    expect(files.get('conf0.json')).toBe('{}\n');
    expect(files.get('init.js')).not.toContain('placeholder');
  });

  it('--fs-dir with per-device files leaves them out and says so', async () => {
    const src = join(dir, 'app');
    mkdirSync(src, { recursive: true });
    for (const [name, text] of Object.entries({ 'init.js': "print('x');\n", 'conf9.json': '{}', 'conf5.json.try': '{}', 'device.crt': 'c', 'device.key': 'k', 'ca.pem': 'p' })) writeFileSync(join(src, name), text);
    const out = join(dir, 'fw2.zip');
    const r = await espfleet(['fw', 'demo-bundle', '--out', out, '--fs-dir', src], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('left out (per-device files): ca.pem, conf5.json.try, conf9.json, device.crt, device.key');
    expect([...fsOf(out).keys()].sort()).toEqual(['conf0.json', 'init.js']);
  });

  it('the generator refuses per-device files in a firmware fs', () => {
    expect(() => makeDemoFirmware({ fsFiles: { 'init.js': new Uint8Array(1), 'conf9.json': new Uint8Array(1) } })).toThrow(/per-device files .*conf9\.json/);
    expect(() => makeDemoFirmware({ fsFiles: { 'device.key': new Uint8Array(1) } })).toThrow(/device\.key/);
  });
});
