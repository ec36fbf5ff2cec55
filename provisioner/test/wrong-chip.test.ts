// A bundle built for another chip (manifest "platform" esp32c3) is refused before anything
// is written, by every path that installs a bundle: `flash`, `flash --encrypt-with-escrow`,
// `encrypt-flash --bundle` (before any escrow or eFuse burn) and `provision` (the station
// pipeline, before any identity or record). The board's flash and eFuses stay as they were.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa } from '../../certs/index.ts';
import { readBundle, writeBundle } from '../../firmware-js/bundle/index.ts';
import { checkBundleChip, planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-wrong-chip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();

function bundleFor(platform: string, file: string): string {
  const demo = readBundle(makeDemoFirmware({ version: '1.0.0', appSize: 0x18000 }).bundle);
  const path = join(dir, file);
  writeFileSync(path, writeBundle({ manifest: { ...demo.manifest, platform }, files: demo.files }));
  return path;
}

const state = (b: TestBoard) => Buffer.from(b.chip.flash.bytes).toString('base64') + JSON.stringify(b.chip.efuse.fuses.map((w) => Array.from(w)));
function untouched(b: TestBoard, before: string): void {
  expect(state(b) === before, 'flash and eFuses unchanged').toBe(true);
  expect(b.chip.flash.stats.bytesProgrammed + b.chip.flash.stats.sectorErases).toBe(0);
  expect(b.chip.efuse.programCount).toBe(0);
}
const WRONG = /the firmware bundle is built for esp32c3, but the board is an ESP32; nothing was written \[flash\.bundle\.wrong_chip\]\nhint: use a bundle built for esp32/;

describe('checkBundleChip', () => {
  it('accepts the same chip however it is spelled, names both chips otherwise', () => {
    expect(() => checkBundleChip('esp32', 'ESP32')).not.toThrow();
    expect(() => checkBundleChip('ESP32-C3', 'esp32c3')).not.toThrow();
    expect(() => checkBundleChip('esp32s3', 'ESP32')).toThrow(expect.objectContaining({ code: 'flash.bundle.wrong_chip', message: expect.stringMatching(/built for esp32s3, but the board is an ESP32/) }));
    const b = readBundle(readFileSync(bundleFor('esp32c3', 'plan.zip')));
    expect(() => planFlash(b, { chip: 'ESP32' })).toThrow(/\[?built for esp32c3/);
    expect(planFlash(b).every((r) => r.platform === 'esp32c3')).toBe(true);
  });
});

describe('a bundle for another chip is refused before any write', () => {
  it('espfleet flash: exit 1 naming both chips, board flash unchanged', async () => {
    const b = board();
    const before = state(b);
    const r = await espfleet(['flash', '--port', b.simUrl, bundleFor('esp32c3', 'c3.zip')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(WRONG);
    untouched(b, before);
    // The right bundle still flashes.
    const ok = await espfleet(['flash', '--port', b.simUrl, bundleFor('esp32', 'esp32.zip')]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('espfleet encrypt-flash --bundle and flash --encrypt-with-escrow: nothing escrowed, burned or written', async () => {
    const keyFile = join(dir, 'ks.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const ksPath = join(dir, 'keys.json');
    await createKeystore(ksPath, { keyFile });
    const ks = ['--keystore', ksPath, '--keystore-key-file', keyFile];
    const b = board();
    const before = state(b);
    const keystoreBefore = readFileSync(ksPath, 'utf8');
    const r = await espfleet(['encrypt-flash', '--port', b.simUrl, '--mode', 'development', '--bundle', bundleFor('esp32c3', 'c3e.zip'), '--confirm', ...ks]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/built for esp32c3, but the board is an ESP32; nothing was written \[flash\.bundle\.wrong_chip\]/);
    untouched(b, before);
    expect(readFileSync(ksPath, 'utf8')).toBe(keystoreBefore);

    const enc = board({ efuseFields: { FLASH_CRYPT_CNT: 1 } });
    const encBefore = state(enc);
    const e = await espfleet(['flash', '--port', enc.simUrl, bundleFor('esp32c3', 'c3f.zip'), '--encrypt-with-escrow', ...ks]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/\[flash\.bundle\.wrong_chip\]/);
    untouched(enc, encBefore);
  });

  it('espfleet provision: the station refuses the board before any identity, record or write', { timeout: 120_000 }, async () => {
    const b = board();
    const before = state(b);
    const passphrase = randomBytes(24).toString('base64');
    await initCa({ dir: join(dir, 'ca'), passphrase });
    writeFileSync(join(dir, 'ca.pass'), `${passphrase}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'station.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    await createKeystore(join(dir, 'station-keys.json'), { keyFile: join(dir, 'station.key') });
    bundleFor('esp32c3', 'fw.zip');
    writeFileSync(
      join(dir, 'station.toml'),
      `[station]
id = "test-line"
operator = "tester"

[firmware]
bundle = "fw.zip"
require_signatures = false

[ca]
dir = "ca"
passphrase_file = "ca.pass"

[keystore]
path = "station-keys.json"
key_file = "station.key"

[mqtt]
server = "mqtt.example.net:8883"

[encryption]
mode = "development"

[ports]
urls = [${JSON.stringify(b.simUrl)}]
`,
    );
    const r = await espfleet(['provision', '--station', join(dir, 'station.toml'), '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/built for esp32c3, but the board is an ESP32; nothing was written/);
    expect(r.stdout).toMatch(/flash\.bundle\.wrong_chip/);
    untouched(b, before);
    // No certificate was issued for it.
    const issued = join(dir, 'ca', 'issued.jsonl');
    expect(existsSync(issued) ? readFileSync(issued, 'utf8').trim() : '').toBe('');
  });
});
