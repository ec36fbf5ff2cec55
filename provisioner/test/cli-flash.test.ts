// `espfleet flash` against virtual boards: a demo bundle verified by esptool verify-flash,
// re-flashing writes nothing, a changed fs file rewrites only its sectors, and refusals
// (encrypted board, wrong chip, missing port) change nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash, type FlashRegion } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { runCli } from '../cli/program.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, differingSectors, flashBytes, type TestBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-flash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();

const text = (s: string) => new TextEncoder().encode(s);
function demoBundle(file: string, fsFiles: Record<string, Uint8Array>): { path: string; plan: FlashRegion[] } {
  const demo = makeDemoFirmware({ version: '1.0.0', appSize: 0x30000, fsFiles });
  const path = join(dir, file);
  writeFileSync(path, demo.bundle);
  return { path, plan: planFlash(readBundle(demo.bundle)) };
}
const fsV1 = { 'conf0.json': text('{"device":{"id":"demo"}}\n'), 'init.js': text("print('v1');\n"), 'big.txt': text('x'.repeat(20000)) };
const fsV2 = { ...fsV1, 'init.js': text("print('v2, changed');\n") };

function sectorsOf(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += 0x1000) out.push(bytes.subarray(at, at + 0x1000));
  return out;
}
function expectFlashHolds(b: TestBoard, plan: FlashRegion[]): void {
  for (const r of plan) expect(flashBytes(b.chip, r.address, r.bytes.length), `${r.part} at 0x${r.address.toString(16)}`).toEqual(r.bytes);
}

describe('espfleet flash with a bundle', () => {
  it('writes the plan, writes nothing the second time, and rewrites only changed fs sectors', { timeout: 120_000 }, async () => {
    const b = board();
    const v1 = demoBundle('v1.zip', fsV1);
    const first = await espfleet(['flash', '--port', b.simUrl, v1.path]);
    expect(first.code, first.stderr).toBe(0);
    // A new chip's flash is erased (0xFF): sectors that are all 0xFF already match.
    const totalSectors = v1.plan.reduce((n, r) => n + Math.ceil(r.bytes.length / 0x1000), 0);
    const blank = v1.plan.reduce((n, r) => n + sectorsOf(r.bytes).filter((s) => s.every((x) => x === 0xff)).length, 0);
    expect(blank).toBeGreaterThan(0);
    expect(first.stdout).toBe(`wrote ${totalSectors - blank} sector(s), skipped ${blank} unchanged, ${v1.plan.length} region(s) verified by MD5\n`);
    expect(first.stderr).toMatch(/^flashing espfleet-demo 1\.0\.0 to ESP32-D0WDQ6-V3 /);
    expect(first.stderr).toMatch(/^app at 0x00010000: \d+ sector\(s\) written, 0 unchanged, verified$/m); // plain lines: stderr is not a TTY
    expectFlashHolds(b, v1.plan);

    const again = await espfleet(['flash', '--port', b.simUrl, v1.path, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout);
    expect(summary.sectorsWritten).toBe(0);
    expect(summary.sectorsSkipped).toBe(totalSectors);
    const plain = await espfleet(['flash', '--port', b.simUrl, v1.path]);
    expect(plain.stdout).toMatch(/^no sector changed: \d+ sector\(s\) already matched/);

    const v2 = demoBundle('v2.zip', fsV2);
    const fs1 = v1.plan.find((r) => r.part === 'fs') as FlashRegion;
    const fs2 = v2.plan.find((r) => r.part === 'fs') as FlashRegion;
    const expected = differingSectors(fs1.bytes, fs2.bytes);
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThanOrEqual(4);
    const erasesBefore = b.chip.flash.stats.sectorErases;
    const third = await espfleet(['flash', '--port', b.simUrl, v2.path, '--json']);
    expect(third.code, third.stderr).toBe(0);
    const s3 = JSON.parse(third.stdout);
    expect(s3.sectorsWritten).toBe(expected);
    expect(s3.regions.find((r: { name: string }) => r.name === 'fs').sectorsWritten).toBe(expected);
    expect(b.chip.flash.stats.sectorErases - erasesBefore).toBe(expected);
    expectFlashHolds(b, v2.plan);
  });

  it('over RFC 2217, esptool verify-flash agrees with what was written', { timeout: 180_000 }, async () => {
    const b = board({ name: `verify-${process.pid}` });
    const bundle = demoBundle('rfc.zip', fsV1);
    const url = await b.rfc2217();
    const r = await espfleet(['flash', '--port', url, '--baud', '460800', bundle.path]);
    expect(r.code, r.stderr).toBe(0);
    const pairs = bundle.plan.flatMap((region) => {
      const file = join(dir, `rfc-${region.part}.bin`);
      writeFileSync(file, region.bytes);
      return [`0x${region.address.toString(16)}`, file];
    });
    const out = expectOk(await esptool(['--port', url, 'verify-flash', ...pairs]), 'esptool verify-flash');
    expect(out.match(/digest matched/g)?.length).toBe(bundle.plan.length);
  });
});

describe('espfleet flash after a cut', () => {
  it('power lost mid-write: one clear error; after a power cycle a re-run finishes the job', { timeout: 60_000 }, async () => {
    const b = board();
    const bundle = demoBundle('cut.zip', fsV1);
    b.chip.injectPowerLoss({ atCommand: 'FLASH_DEFL_DATA', occurrence: 6 });
    const cut = await espfleet(['flash', '--port', b.simUrl, bundle.path]);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toBe('');
    expect(cut.stderr).toMatch(/^error: the board on sim:\/\/\S+ stopped answering while writing flash \[session\.no_response\]\nhint: .*run the command again/m);

    b.chip.powerOff(); // unplug and plug in again
    b.chip.powerOn();
    const rerun = await espfleet(['flash', '--port', b.simUrl, bundle.path, '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout);
    expect(summary.regions.find((r: { name: string }) => r.name === 'boot').sectorsWritten).toBe(0); // written before the cut
    expect(summary.sectorsWritten).toBeGreaterThan(0);
    expectFlashHolds(b, bundle.plan);
  });
});

describe('espfleet flash with raw files', () => {
  it('writes address/file pairs and draws a bar on a terminal', async () => {
    const b = board();
    const app = Uint8Array.from({ length: 0x5000 }, (_, i) => (i * 31) & 0xff);
    const file = join(dir, 'raw-app.bin');
    writeFileSync(file, app);
    const err: string[] = [];
    const out: string[] = [];
    const code = await runCli(['flash', '-p', b.simUrl, '0x20000', file], {
      stdout: { write: (s: string) => (out.push(s), true) },
      stderr: { write: (s: string) => (err.push(s), true), isTTY: true },
      env: {},
      cwd: dir,
    });
    expect(code, err.join('')).toBe(0);
    expect(flashBytes(b.chip, 0x20000, app.length)).toEqual(app);
    expect(err.join('')).toMatch(/\r\[#{24}\] raw-app\.bin at 0x00020000 write: 20\.0 KiB of 20\.0 KiB \(100%\)/);
    expect(out.join('')).toBe('wrote 5 sector(s), skipped 0 unchanged, 1 region(s) verified by MD5\n');
  });

  it('refuses an odd argument count and an unaligned address', async () => {
    const b = board();
    const odd = await espfleet(['flash', '-p', b.simUrl, '0x1000']);
    expect(odd.code).toBe(1);
    expect(odd.stderr).toMatch(/\[cli\.flash\.bad_args\]/);
    const file = join(dir, 'small.bin');
    writeFileSync(file, new Uint8Array(16));
    const unaligned = await espfleet(['flash', '-p', b.simUrl, '0x1004', file]);
    expect(unaligned.code).toBe(1);
    expect(unaligned.stderr).toMatch(/starts at 0x00001004, not on a 4 KiB sector boundary \[session\.bad_region\]/);
    expect(b.chip.flash.stats.bytesProgrammed).toBe(0);
  });
});

describe('espfleet flash refusals change nothing', () => {
  it('a board with flash encryption on: refuses plaintext and names --encrypt-with-escrow', async () => {
    const b = board({ efuseFields: { FLASH_CRYPT_CNT: 1 } });
    const bundle = demoBundle('enc.zip', fsV1);
    const r = await espfleet(['flash', '--port', b.simUrl, bundle.path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: the board on sim:\/\/\S+ has flash encryption on \(FLASH_CRYPT_CNT 0b0000001\); writing boot, pt, otadata, app, fs as plaintext/);
    expect(r.stderr).toMatch(/\[cli\.flash\.encrypted_board\]\nhint: .*--encrypt-with-escrow/);
    expect(b.chip.flash.stats.bytesProgrammed + b.chip.flash.stats.sectorErases).toBe(0);
    await new Promise((r) => setTimeout(r, 30));
    expect(b.chip.state).not.toBe('stub'); // reset back out of the loader

    // The escrow path needs to know where the board's key is kept.
    const later = await espfleet(['flash', '--port', b.simUrl, '--encrypt-with-escrow', bundle.path]);
    expect(later.code).toBe(1);
    expect(later.stderr).toMatch(/\[cli\.flash\.needs_keystore\]/);
    expect(b.chip.flash.stats.bytesProgrammed + b.chip.flash.stats.sectorErases).toBe(0);
  });

  it('a chip that is not an ESP32 and a port that does not exist: one error each', async () => {
    const b = board({ chipMagic: 0x09 });
    const bundle = demoBundle('wrong.zip', fsV1);
    const wrong = await espfleet(['flash', '--port', b.simUrl, bundle.path]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.split('\n').filter(Boolean)).toHaveLength(2);
    expect(wrong.stderr).toMatch(/\[session\.wrong_chip\]/);
    expect(b.chip.flash.stats.bytesProgrammed + b.chip.flash.stats.sectorErases).toBe(0);

    const none = await espfleet(['flash', '--port', 'rfc2217://127.0.0.1:1', bundle.path]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: .*rfc2217:\/\/127\.0\.0\.1:1.*\[session\.port_not_found\]\nhint: /);
  });
});
