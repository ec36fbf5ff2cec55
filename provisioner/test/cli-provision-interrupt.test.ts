// Ctrl-C during `espfleet provision`, in-process (the interrupt's signal stands for SIGINT):
// stopped at several points, each board stops at a safe point (before connecting, after
// identify / plan) or finishes (flash already under way); the journals are consistent, the
// CLI says where each board stands and exits 130, and a re-run resumes the stopped boards.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { readJournal } from '../station/journal.ts';
import { espfleet } from './cli-harness.ts';
import { writeStationFixture } from './station-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-provision-interrupt-'));
const unregister: Array<() => void> = [];
afterAll(() => {
  for (const u of unregister) u();
  rmSync(dir, { recursive: true, force: true });
});

let boardCount = 0;
function newBoard(): { chip: VirtualEsp32; url: string } {
  const chip = new VirtualEsp32({ name: `intr-${++boardCount}-${process.pid}` });
  chip.powerOn();
  unregister.push(registerSimBoard(chip.options.name, chip));
  return { chip, url: `sim://${chip.options.name}` };
}

const station = join(dir, 'station.toml');
beforeAll(async () => {
  await writeStationFixture(dir, { id: 'intr-line', firmware: { version: '3.1.0', appSize: 0x10000 }, encryption: 'off' });
}, 60_000);

const journalDir = join(dir, 'journal');

/** Runs provision on `ports` one board at a time, pressing "Ctrl-C" when `press` says so. */
async function provision(ports: string[], press: (line: string) => boolean) {
  const ctrlC = new AbortController();
  const args = ['provision', '--station', station, '--concurrency', '1', ...ports.flatMap((p) => ['--port', p])];
  return espfleet(args, { interrupt: ctrlC.signal, onStderr: (t) => press(t) && ctrlC.abort() });
}

function expectInterrupted(r: { code: number; stderr: string }): void {
  if (process.env.SHOW) console.log(r.stderr);
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toMatch(/^interrupted: provisioning stopped by Ctrl-C: \d+ board\(s\) stopped at a safe point before anything was written to them, \d+ provisioned, 0 failed; the journals in \S+ are up to date \[cli\.interrupted\]$/m);
  expect(r.stderr).toMatch(/^hint: run the same command again: each stopped board resumes from its journal/m);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

async function rerunProvisions(ports: string[]): Promise<string> {
  const again = await espfleet(['provision', '--station', station, ...ports.flatMap((p) => ['--port', p])]);
  expect(again.code, again.stderr + again.stdout).toBe(0);
  expect(again.stdout).toMatch(new RegExp(`^${ports.length} provisioned, 0 failed$`, 'm'));
  return again.stdout;
}

const appUntouched = (chip: VirtualEsp32) => chip.flash.bytes.subarray(0x10000, 0x20000).every((b) => b === 0xff);

describe('Ctrl-C during espfleet provision', () => {
  it('after the plan step: the board stops with nothing written, the others are not started; the re-run resumes it', { timeout: 120_000 }, async () => {
    const [a, b, c] = [newBoard(), newBoard(), newBoard()];
    const r = await provision([a.url, b.url, c.url], (l) => l.startsWith(`[${a.url}] plan: `));
    expectInterrupted(r);
    expect(r.stderr).toMatch(new RegExp(`^\\[${a.url}\\] esp32_[0-9A-F]{6} \\(([0-9a-f]{2}:){5}[0-9a-f]{2}\\): stopped after the plan step; a certificate was issued but nothing was written to the board`, 'm'));
    expect(r.stderr).toMatch(new RegExp(`^\\[${b.url}\\] not started: the board was not opened$`, 'm'));
    expect(r.stdout).toMatch(/^0 provisioned, 3 failed$/m);
    for (const x of [a, b, c]) expect(appUntouched(x.chip)).toBe(true);
    const mac = a.chip.options.mac;
    const journal = readJournal(journalDir, [...mac].map((v) => v.toString(16).padStart(2, '0')).join(':'));
    expect(journal).toMatchObject({ status: 'failed', lastError: { code: 'station.interrupted', message: 'stopped by Ctrl-C after the plan step' } });
    expect(Object.keys(journal?.steps ?? {})).toEqual(['identify', 'identity', 'compose', 'plan']);
    const abandonedSerial = journal?.cert?.serial;
    expect(abandonedSerial).toMatch(/^[0-9a-f]+$/);

    const out = await rerunProvisions([a.url, b.url, c.url]);
    expect(out).toMatch(new RegExp(`^${a.url}\\s.*provisioned \\(resumed\\)`, 'm'));
    const after = readJournal(journalDir, [...mac].map((v) => v.toString(16).padStart(2, '0')).join(':'));
    expect(after?.status).toBe('done');
    expect(after?.abandoned).toEqual([expect.objectContaining({ serial: abandonedSerial, revokedAt: expect.any(String) })]);
    const audit = await espfleet(['audit', 'verify', '--station', station]);
    expect(audit.code, audit.stdout).toBe(0);
  });

  it('before connecting and after identify: journals say where each board stands; the re-run finishes both', { timeout: 120_000 }, async () => {
    const [a, b] = [newBoard(), newBoard()];
    const early = await provision([a.url], (l) => l.startsWith(`[${a.url}] connecting`));
    expectInterrupted(early);
    expect(early.stderr).toMatch(new RegExp(`^\\[${a.url}\\] not started: the board was not opened$`, 'm'));
    const afterIdentify = await provision([b.url], (l) => l.startsWith(`[${b.url}] identify: `));
    expectInterrupted(afterIdentify);
    expect(afterIdentify.stderr).toMatch(new RegExp(`^\\[${b.url}\\] esp32_[0-9A-F]{6} \\(\\S+\\): identified, nothing issued or written; journal up to date$`, 'm'));
    expect(JSON.parse(readFileSync(join(journalDir, `${[...b.chip.options.mac].map((v) => v.toString(16).padStart(2, '0')).join('')}.json`), 'utf8'))).toMatchObject({
      status: 'failed',
      cert: null,
      lastError: { code: 'station.interrupted' },
    });
    await rerunProvisions([a.url, b.url]);
  });

  it('while flashing: that board finishes (flash is never cut), the next is not started', { timeout: 120_000 }, async () => {
    const [a, b] = [newBoard(), newBoard()];
    const ctrlC = new AbortController();
    const off = a.chip.onCommit(() => ctrlC.abort());
    const r = await espfleet(['provision', '--station', station, '--concurrency', '1', '--port', a.url, '--port', b.url], { interrupt: ctrlC.signal });
    off();
    expectInterrupted(r);
    expect(r.stdout).toMatch(/^1 provisioned, 1 failed$/m);
    expect(r.stderr).toMatch(/1 board\(s\) stopped at a safe point before anything was written to them, 1 provisioned, 0 failed/);
    expect(appUntouched(a.chip)).toBe(false);
    expect(appUntouched(b.chip)).toBe(true);
    await rerunProvisions([b.url]);
  });
});
