// Issue 20: the one progress reporter (cli/progress.ts) and the long commands that use it.
// With stderr not a terminal, each long command prints plain lines a log reader can follow —
// at least one per phase — and `--progress json` gives JSON lines while the result stays on
// stdout. Asserted by content, never by timing: the clock is injected where time matters.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { registerSimBoard } from '../../hil-tests/index.ts';
import { mgosBoard } from '../../hil-tests/test/helpers/mgos-board.ts';
import { createDemoStation } from '../../scripts/lib/demo-station.ts';
import { addr } from '../cli/format.ts';
import { runCli } from '../cli/program.ts';
import { createProgress } from '../cli/progress.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A reporter on a captured stream with a hand-driven clock and heartbeat. */
function fakeReporter(mode: 'lines' | 'json' | 'bar' | 'none' | 'auto', isTTY = false) {
  let t = 0;
  let beat: () => void = () => {};
  const out: string[] = [];
  const p = createProgress({ mode, stream: { write: (s: string) => out.push(s), isTTY }, now: () => t, every: (_ms, fn) => ((beat = fn), () => (beat = () => {})) });
  return { p, out, text: () => out.join(''), advance: (ms: number) => void (t += ms), beat: () => beat() };
}

describe('the progress reporter', () => {
  it('lines: one at each phase start and end, one at least every 5 s in between, with bytes, rate and ETA', () => {
    const r = fakeReporter('lines');
    r.p.phase('app at 0x00010000 write', 1024 * 1024);
    r.advance(1000);
    r.p.update(100 * 1024);
    expect(r.out).toHaveLength(1); // nothing new within 5 s
    r.advance(4000);
    r.p.update(512 * 1024);
    r.advance(3000);
    r.p.update(1024 * 1024);
    r.p.done();
    expect(r.text()).toBe(
      [
        'app at 0x00010000 write: 0 B of 1.00 MiB (0%)',
        'app at 0x00010000 write: 512.0 KiB of 1.00 MiB (50%), 102.4 KiB/s, ETA 5s',
        'app at 0x00010000 write: 1.00 MiB of 1.00 MiB (100%), 128.0 KiB/s',
        '',
      ].join('\n'),
    );
  });

  it('lines: the heartbeat prints a line when nothing reported for 5 s, and none before', () => {
    const r = fakeReporter('lines');
    r.p.note('[sim://a] identify: ESP32');
    r.advance(4999);
    r.beat();
    expect(r.out).toHaveLength(1);
    r.advance(1);
    r.beat();
    expect(r.out[1]).toBe('still working (5s since: [sim://a] identify: ESP32)\n');
    r.p.done();
    r.advance(10_000);
    r.beat();
    expect(r.out).toHaveLength(2);
  });

  it('json: every line is a JSON event (phase, progress, note)', () => {
    const r = fakeReporter('json');
    r.p.phase('put a.bin', 2000);
    r.advance(500);
    r.p.update(1000);
    r.p.note('hello');
    r.advance(500);
    r.p.update(2000);
    const events = r.text().trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['phase', 'progress', 'note', 'progress']);
    expect(events[3]).toMatchObject({ phase: 'put a.bin', done: 2000, total: 2000, bytesPerSecond: 2000, etaSeconds: 0 });
  });

  it('bar on a terminal (auto): redrawn in place; none prints nothing', () => {
    const r = fakeReporter('auto', true);
    expect(r.p.mode).toBe('bar');
    r.p.phase('fs at 0x00190000 write', 100);
    r.advance(200);
    r.p.update(100);
    r.p.done();
    expect(r.text()).toMatch(/\r\[#{24}\] fs at 0x00190000 write: 100 B of 100 B \(100%\), 500 B\/s\x1b\[K\n$/);
    const n = fakeReporter('none');
    n.p.phase('x', 1);
    n.p.update(1);
    n.p.note('y');
    n.p.done();
    expect(n.out).toEqual([]);
  });
});

const text = (s: string) => new TextEncoder().encode(s);

describe('long commands with stderr not a terminal', () => {
  it('flash: a line for every region in every phase it went through, the result alone on stdout', { timeout: 120_000 }, async () => {
    const b = board();
    const demo = makeDemoFirmware({ version: '1.0.0', appSize: 0x30000, fsFiles: { 'init.js': text("print('p');\n") } });
    const path = join(dir, 'fw.zip');
    writeFileSync(path, demo.bundle);
    const plan = planFlash(readBundle(demo.bundle));
    const r = await espfleet(['flash', '--port', b.simUrl, path]);
    expect(r.code, r.stderr).toBe(0);
    for (const region of plan) {
      const at = `${region.part} at ${addr(region.address)}`;
      expect(r.stderr).toMatch(new RegExp(`^${at} compare: 0 B of `, 'm'));
      expect(r.stderr).toMatch(new RegExp(`^${at} verify: .*\\(100%\\)`, 'm'));
      expect(r.stderr).toMatch(new RegExp(`^${at}: \\d+ sector\\(s\\) written, \\d+ unchanged, verified$`, 'm'));
    }
    expect(r.stderr).toMatch(/^app at 0x00010000 write: .*\(100%\)/m);
    expect(r.stdout).toMatch(/^wrote \d+ sector\(s\)/);

    // --progress json: JSON lines on stderr, the JSON result on stdout.
    const j = await espfleet(['flash', '--port', b.simUrl, path, '--json', '--progress', 'json']);
    expect(j.code, j.stderr).toBe(0);
    const events = j.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; phase?: string });
    expect(events.filter((e) => e.type === 'phase').map((e) => e.phase)).toContain('app at 0x00010000 compare');
    expect(JSON.parse(j.stdout).sectorsWritten).toBe(0);

    // --quiet: nothing on stderr.
    const q = await espfleet(['flash', '--port', b.simUrl, path, '--quiet']);
    expect(q.stderr).toBe('');
  });

  it('flash: while a phase goes on, a line at least every 5 s (a clock that moves 6 s per look)', { timeout: 120_000 }, async () => {
    const b = board();
    const app = Uint8Array.from({ length: 0x20000 }, (_, i) => (i * 13) & 0xff);
    const file = join(dir, 'app.bin');
    writeFileSync(file, app);
    let t = 0;
    const err: string[] = [];
    const code = await runCli(['flash', '-p', b.simUrl, '0x10000', file], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (err.push(s), true) },
      env: {},
      cwd: dir,
      progressClock: { now: () => (t += 6000), every: () => () => {} },
    });
    expect(code, err.join('')).toBe(0);
    const writes = err.join('').split('\n').filter((l) => l.startsWith('app.bin at 0x00010000 write: '));
    expect(writes.length).toBeGreaterThan(2);
    expect(writes.at(-1)).toMatch(/\(100%\)/);
  });

  it('encrypt-flash: a line for every step (escrow, burns, protect) and every region written', { timeout: 240_000 }, async () => {
    const b = board();
    const demo = makeDemoFirmware({ version: '1.0.0', appSize: 0x20000 });
    const path = join(dir, 'enc.zip');
    writeFileSync(path, demo.bundle);
    const ks = join(dir, 'enc-keys.json');
    const keyFile = join(dir, 'enc.key');
    expect((await espfleet(['keystore', 'init', '--keystore', ks, '--keystore-key-file', keyFile])).code).toBe(0);
    const r = await espfleet(['encrypt-flash', '--port', b.simUrl, '--mode', 'development', '--keystore', ks, '--keystore-key-file', keyFile, '--bundle', path, '--confirm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^escrowing a new flash-encryption key/m);
    for (const region of planFlash(readBundle(demo.bundle))) {
      expect(r.stderr).toMatch(new RegExp(`^${region.part} at ${addr(region.address)} compare: `, 'm'));
      expect(r.stderr).toMatch(new RegExp(`^${region.part} at ${addr(region.address)}: \\d+ sector\\(s\\) written`, 'm'));
    }
    expect(r.stdout).toMatch(/^flash encryption on for /);
  });

  it('flash --json stopped by Ctrl-C: the interruption is a JSON error too, exit 130', { timeout: 60_000 }, async () => {
    const b = board();
    const app = join(dir, 'stop.bin');
    writeFileSync(app, new Uint8Array(0x2000).fill(1));
    const ctrlC = new AbortController();
    const r = await espfleet(['flash', '--port', b.simUrl, '0x10000', app, '--json'], { interrupt: ctrlC.signal, onStderr: (t) => t.startsWith('flashing ') && ctrlC.abort() });
    expect(r.code, r.stderr).toBe(130);
    const { error } = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string } };
    expect(error.code).toBe('cli.interrupted');
    expect(error.message).toMatch(/^flash on sim:\/\/\S+ stopped /);
    expect(error.hint).toMatch(/run the same command again/);
  });

  it('device fs put and get: a line at the start and the end of the transfer', { timeout: 60_000 }, async () => {
    const chip = await mgosBoard({ files: {} });
    const off = registerSimBoard(chip.options.name, chip);
    cleanups.push(() => (off(), chip.powerOff()));
    const port = `sim://${chip.options.name}`;
    writeFileSync(join(dir, 'blob.bin'), Buffer.alloc(9000, 7));
    const put = await espfleet(['device', 'fs', 'put', 'blob.bin', '--port', port], { cwd: dir });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toMatch(/^put blob\.bin: 0 B of 8\.8 KiB \(0%\)$/m);
    expect(put.stderr).toMatch(/^put blob\.bin: 8\.8 KiB of 8\.8 KiB \(100%\)/m);
    const get = await espfleet(['device', 'fs', 'get', 'blob.bin', 'back.bin', '--port', port], { cwd: dir });
    expect(get.code, get.stderr).toBe(0);
    expect(get.stderr).toMatch(/^get blob\.bin: 0 B$/m);
    expect(get.stderr).toMatch(/^get blob\.bin: 8\.8 KiB of 8\.8 KiB \(100%\)/m);
    expect(get.stderr).toMatch(/^copied blob\.bin \(9000 bytes\) to back\.bin$/m);
  });

  it('provision: a line for every step of every board, and the summary table on stdout', { timeout: 180_000 }, async () => {
    const b = board();
    const workdir = join(dir, 'station');
    mkdirSync(workdir);
    const demo = await createDemoStation({ workdir, ports: [b.simUrl], encryption: 'off', env: {} });
    const r = await espfleet(['provision', '--station', demo.stationPath], { env: demo.env });
    expect(r.code, r.stderr).toBe(0);
    const mine = r.stderr.split('\n').filter((l) => l.startsWith(`[${b.simUrl}] `));
    for (const step of ['identify', 'compose', 'plan', 'flash', 'boot']) expect(mine.some((l) => l.startsWith(`[${b.simUrl}] ${step}`)), `${step} in\n${r.stderr}`).toBe(true);
    expect(mine.at(-1)).toMatch(/done: /);
    expect(r.stdout).toMatch(/^PORT +DEVICE ID +MAC +RESULT/);
  });
});
