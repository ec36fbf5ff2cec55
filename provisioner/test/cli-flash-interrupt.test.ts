// Ctrl-C during `espfleet flash`, in-process (the interrupt's signal stands for SIGINT):
// stopped at several points, each says what was cut short and the board's state, exits
// 130, and a re-run finishes the job (then a third run finds nothing to write).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash, type FlashRegion } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, flashBytes, type TestBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-flash-interrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();

const demo = makeDemoFirmware({ version: '1.0.0', appSize: 0x30000 });
const bundle = join(dir, 'fw.zip');
writeFileSync(bundle, demo.bundle);
const plan: FlashRegion[] = planFlash(readBundle(demo.bundle));

function holdsPlan(b: TestBoard): boolean {
  return plan.every((r) => Buffer.from(flashBytes(b.chip, r.address, r.bytes.length)).equals(Buffer.from(r.bytes)));
}

/** The interrupt message: one line, no stack, exit 130. */
function expectInterrupted(run: { code: number; stderr: string; stdout: string }, state: RegExp): void {
  if (process.env.SHOW) console.log(run.stderr);
  expect(run.code, run.stderr).toBe(130);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^interrupted: flash on sim:\/\/\S+ stopped .+ \[cli\.interrupted\]$/m);
  expect(run.stderr).toMatch(state);
  expect(run.stderr).toMatch(/^hint: run the same command again: it compares every sector, writes only those that differ and verifies every region by MD5$/m);
  expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
}

async function rerunFinishes(b: TestBoard): Promise<void> {
  const again = await espfleet(['flash', '--port', b.simUrl, bundle]);
  expect(again.code, again.stderr).toBe(0);
  expect(holdsPlan(b)).toBe(true);
  const third = await espfleet(['flash', '--port', b.simUrl, bundle]);
  expect(third.stdout).toMatch(/^no sector changed: /);
}

describe('Ctrl-C during espfleet flash', () => {
  it('before connecting: nothing written, the board unchanged', { timeout: 60_000 }, async () => {
    const b = board();
    const ctrlC = new AbortController();
    ctrlC.abort();
    const run = await espfleet(['flash', '--port', b.simUrl, bundle], { interrupt: ctrlC.signal });
    expectInterrupted(run, /stopped while connecting, before anything was written; the board is unchanged/);
    expect(b.chip.flash.bytes.every((x) => x === 0xff)).toBe(true);
    await rerunFinishes(b);
  });

  it('while comparing: nothing written yet', { timeout: 60_000 }, async () => {
    const b = board();
    const ctrlC = new AbortController();
    const run = await espfleet(['flash', '--port', b.simUrl, bundle], { interrupt: ctrlC.signal, onStderr: (t) => t.startsWith('flashing ') && ctrlC.abort() });
    expectInterrupted(run, /stopped while comparing boot at 0x00001000: nothing of boot written yet; 5 more region\(s\) not started; the board was reset/);
    expect(b.chip.flash.bytes.every((x) => x === 0xff)).toBe(true);
    await rerunFinishes(b);
  });

  it('mid-write: the region partly written, the board may not boot; a re-run repairs it', { timeout: 60_000 }, async () => {
    const b = board();
    const ctrlC = new AbortController();
    const app = plan.find((r) => r.part === 'app') as FlashRegion;
    // The first block of the app committed to flash: press Ctrl-C.
    const off = b.chip.onCommit(() => {
      if (!flashBytes(b.chip, app.address, 16).every((x) => x === 0xff)) ctrlC.abort();
    });
    const run = await espfleet(['flash', '--port', b.simUrl, bundle], { interrupt: ctrlC.signal });
    off();
    expectInterrupted(run, /stopped while writing app at 0x00010000: boot at 0x00001000, pt at 0x00008000, nvs at 0x00009000, otadata at 0x0000d000 written and verified; app partly written \(\d+ of \d+ bytes\), so the board may not boot until it is flashed again; 1 more region\(s\) not started; the board was reset/);
    expect(holdsPlan(b)).toBe(false);
    await rerunFinishes(b);
  });

  it('after a region is verified: that one done, the rest not started', { timeout: 60_000 }, async () => {
    const b = board();
    const ctrlC = new AbortController();
    const run = await espfleet(['flash', '--port', b.simUrl, bundle], { interrupt: ctrlC.signal, onStderr: (t) => /verified\n$/.test(t) && ctrlC.abort() });
    expectInterrupted(run, /stopped after boot at 0x00001000: boot at 0x00001000 written and verified; 5 more region\(s\) not started; the board was reset/);
    await rerunFinishes(b);
  });

  it('without Ctrl-C the interrupt changes nothing', { timeout: 60_000 }, async () => {
    const b = board();
    const run = await espfleet(['flash', '--port', b.simUrl, bundle], { interrupt: new AbortController().signal });
    expect(run.code, run.stderr).toBe(0);
    expect(holdsPlan(b)).toBe(true);
  });
});
