// Bench: writing the demo bundle (1.5 MB app) to the virtual ESP32 throttled to 921600 baud,
// espfleet's board session against `esptool write-flash` (same regions, same board, same pty
// wire, alternated runs), espfleet in-process over sim://, the fast re-flash (unchanged plan,
// then one changed fs file) and espfleet's host CPU per full write. DESIGN.md "Performance
// targets". The board runs in a child process so the CPU figure is espfleet's alone.
// FLASH_BENCH_RUNS=n sets the runs per tool (default 2). Prints figures; asserts nothing.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash, type FlashRegion } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { RawTcpServer, registerSimBoard, VirtualEsp32 } from '../../hil-tests/index.ts';
import { connectBoard, openBoardSession, type BoardSession, type RegionResult, type WritePhase } from '../../provisioner/session/index.ts';
import { NodeSerialTransport } from '../../provisioner/transport/node-serial-transport.ts';
import { esptool, repoRoot } from '../lib/oracles.ts';
import { PTY_BRIDGE } from '../lib/pty-bridge.ts';

const BAUD = 921600;
const RUNS = Math.max(1, Number(process.env.FLASH_BENCH_RUNS ?? 2) || 2);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

/** CPU seconds of the calling (main JS) thread, from Linux's /proc; NaN elsewhere. */
function mainThreadCpu(): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The chip's own reset wiring, driven directly: a pty carries no DTR/RTS (as sim-throughput.ts). */
async function putInDownloadMode(chip: VirtualEsp32): Promise<void> {
  chip.setSignals({ dtr: false, rts: true });
  await sleep(10);
  chip.setSignals({ dtr: true, rts: false });
  await sleep(20);
  chip.setSignals({ dtr: false, rts: false });
}

// ---- the board host (child process): one throttled board behind a raw TCP pipe ----------------

type HostRequest = { op: 'erase' } | { op: 'download' } | { op: 'stats' } | { op: 'check'; regions: Array<{ address: number; length: number; md5: string }> };

async function boardHost(): Promise<void> {
  const chip = new VirtualEsp32({ name: 'bench-flash', throttle: true });
  chip.powerOn();
  const server = new RawTcpServer(chip);
  const { host, port } = await server.listen();
  const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  reply({ host, port });
  for await (const line of createInterface({ input: process.stdin })) {
    const req = JSON.parse(line) as HostRequest;
    if (req.op === 'erase') chip.flash.eraseAll();
    else if (req.op === 'download') await putInDownloadMode(chip);
    else if (req.op === 'stats') {
      reply({ ...chip.wireStats(), ...chip.flash.stats });
      continue;
    } else if (req.op === 'check') {
      reply({ bad: req.regions.filter((r) => md5(chip.flash.bytes.subarray(r.address, r.address + r.length)) !== r.md5).map((r) => r.address) });
      continue;
    }
    reply({ ok: true });
  }
  await server.close();
}

class BoardHost {
  private readonly replies: Array<(v: unknown) => void> = [];
  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    createInterface({ input: child.stdout }).on('line', (l) => this.replies.shift()?.(JSON.parse(l)));
  }

  static async start(): Promise<{ host: BoardHost; address: { host: string; port: number } }> {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--board-host'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const host = new BoardHost(child);
    const address = await new Promise<{ host: string; port: number }>((resolve) => host.replies.push(resolve as (v: unknown) => void));
    return { host, address };
  }

  request<T = { ok: true }>(req: HostRequest): Promise<T> {
    return new Promise<T>((resolve) => {
      this.replies.push(resolve as (v: unknown) => void);
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  stop(): void {
    this.child.stdin.end();
  }
}


// ---- one run ---------------------------------------------------------------------------------

interface Run {
  tool: string;
  seconds: number;
  /** Time in the write phase proper: esptool's "Wrote … in X seconds" sum; espfleet's write phase. */
  writeSeconds: number;
  detail: string;
  /** process.cpuUsage() delta: every thread of this process (tsx loader, libuv pool included). */
  cpuSeconds?: number;
  /** The main JS thread alone (Linux /proc, 10 ms resolution). */
  threadCpuSeconds?: number;
  cpuSplit?: string;
  sectorsWritten?: number;
  ok: boolean;
}

async function espfleetWrite(open: () => Promise<BoardSession>, regions: readonly FlashRegion[]): Promise<Omit<Run, 'tool' | 'ok'> & { results: RegionResult[] }> {
  const phases: Record<WritePhase, number> = { compare: 0, write: 0, verify: 0 };
  const cpu0 = process.cpuUsage();
  const thread0 = mainThreadCpu();
  const t0 = performance.now();
  const session = await open();
  const tReady = performance.now();
  let phase: WritePhase | undefined;
  let since = tReady;
  const results = await session
    .writeRegions(
      regions.map((r) => ({ address: r.address, bytes: r.bytes, name: r.part })),
      {
        onProgress: (p) => {
          if (p.phase === phase) return;
          const now = performance.now();
          if (phase) phases[phase] += now - since;
          phase = p.phase;
          since = now;
        },
      },
    )
    .finally(() => {
      if (phase) phases[phase] += performance.now() - since;
    });
  const tWritten = performance.now();
  await session.close();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const threadSeconds = mainThreadCpu() - thread0;
  const s = (ms: number) => (ms / 1000).toFixed(2);
  return {
    seconds,
    writeSeconds: phases.write / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    threadCpuSeconds: threadSeconds,
    cpuSplit: `user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s`,
    sectorsWritten: results.reduce((n, r) => n + r.sectorsWritten, 0),
    detail: `connect+stub+baud ${s(tReady - t0)} s, compare ${s(phases.compare)} s, write ${s(phases.write)} s, verify ${s(phases.verify)} s, close ${s(performance.now() - tWritten)} s`,
    results,
  };
}

async function esptoolWrite(tty: string, files: ReadonlyArray<{ address: number; path: string }>): Promise<Omit<Run, 'tool' | 'ok'>> {
  const args = ['--chip', 'esp32', '--port', tty, '--baud', String(BAUD), '--before', 'no-reset', '--after', 'no-reset', 'write-flash'];
  for (const f of files) args.push(`0x${f.address.toString(16)}`, f.path);
  const t0 = performance.now();
  const r = await esptool(args, { timeoutMs: 180_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) return { seconds: NaN, writeSeconds: NaN, detail: `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
  const wrote = [...r.stdout.matchAll(/Wrote \d+ bytes(?: \(\d+ compressed\))? at 0x[0-9a-f]+ in ([\d.]+) seconds/g)].map((m) => Number(m[1]));
  const verified = (r.stdout.match(/Hash of data verified/g) ?? []).length;
  return {
    seconds,
    writeSeconds: wrote.reduce((a, b) => a + b, 0),
    detail: `${wrote.length} "Wrote" lines summing ${wrote.reduce((a, b) => a + b, 0).toFixed(2)} s, ${verified} hashes verified`,
  };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(2));

function printRun(n: number, r: Run, wire?: { hostToChip: number }): void {
  const extra = [
    r.cpuSeconds !== undefined ? `cpu ${f2(r.cpuSeconds)} s (${r.cpuSplit}; main thread ${f2(r.threadCpuSeconds)} s)` : undefined,
    r.sectorsWritten !== undefined ? `${r.sectorsWritten} sectors written` : undefined,
    wire ? `${wire.hostToChip} bytes host→chip` : undefined,
    r.ok ? 'flash matches the plan' : 'FLASH DIFFERS FROM THE PLAN',
  ].filter(Boolean);
  console.log(`  #${n} ${r.tool.padEnd(16)} ${f2(r.seconds).padStart(6)} s total, ${f2(r.writeSeconds).padStart(6)} s write  (${r.detail}; ${extra.join(', ')})`);
}

async function main(): Promise<void> {
  const bundle = readBundle(makeDemoFirmware({ version: '1.0.0', appSize: 1_500_000 }).bundle);
  const plan = planFlash(bundle);
  const oneFile = planFlash(bundle, { deviceFiles: { 'conf9.json': new TextEncoder().encode('{"device": {"id": "bench-flash-01"}}\n') } });
  const checkOf = (p: readonly FlashRegion[]) => p.map((r) => ({ address: r.address, length: r.bytes.length, md5: md5(r.bytes) }));
  const total = plan.reduce((n, r) => n + r.bytes.length, 0);
  console.log(
    `demo bundle: ${plan.map((r) => `${r.part}@0x${r.address.toString(16)} ${r.bytes.length}`).join(', ')} = ${total} bytes; ` +
      `board throttled to ${BAUD} baud; ${RUNS} alternated runs per tool over one pty; flash erased before each full write`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'flash-bench-'));
  const files = plan.map((r) => {
    const path = join(dir, `${r.part}-0x${r.address.toString(16)}.bin`);
    writeFileSync(path, r.bytes);
    return { address: r.address, path };
  });

  // One board, one pty, for both tools.
  const { host, address } = await BoardHost.start();
  const bridge = spawn(join(repoRoot, '.venv/bin/python'), ['-c', PTY_BRIDGE, address.host, String(address.port)]);
  const tty = await new Promise<string>((resolve) => bridge.stdout.once('data', (b: Buffer) => resolve(b.toString().trim())));
  const overPty = () => openBoardSession(new NodeSerialTransport(tty), { reset: 'none', baud: BAUD });
  const stats = () => host.request<{ hostToChip: number; chipToHost: number; sectorErases: number; bytesProgrammed: number }>({ op: 'stats' });
  const checked = async (p: readonly FlashRegion[]) => (await host.request<{ bad: number[] }>({ op: 'check', regions: checkOf(p) })).bad.length === 0;

  console.log(`\nfull write over the pty (${tty}), espfleet reset none / esptool --before no-reset, board put into download mode through its reset wiring:`);
  const pty: Run[] = [];
  let n = 0;
  for (let i = 0; i < RUNS; i++) {
    for (const tool of ['espfleet', 'esptool'] as const) {
      await host.request({ op: 'erase' });
      await host.request({ op: 'download' });
      const before = await stats();
      let run: Run;
      try {
        const r = tool === 'espfleet' ? await espfleetWrite(overPty, plan) : await esptoolWrite(tty, files);
        run = { tool: tool === 'espfleet' ? 'espfleet (pty)' : 'esptool (pty)', ...r, ok: await checked(plan) };
      } catch (e) {
        run = { tool, seconds: NaN, writeSeconds: NaN, detail: `failed: ${e instanceof Error ? e.message : String(e)}`, ok: false };
      }
      const after = await stats();
      pty.push(run);
      printRun(++n, run, { hostToChip: after.hostToChip - before.hostToChip });
    }
  }

  // Fast re-flash: the board now holds the plan (the last full write).
  console.log('\nfast re-flash with espfleet over the pty (no erase):');
  for (const [label, p] of [
    ['same plan again', plan],
    ['one fs file changed (conf9.json)', oneFile],
  ] as const) {
    await host.request({ op: 'download' });
    const before = await stats();
    try {
      const r = await espfleetWrite(overPty, p);
      const after = await stats();
      const ok = await checked(p);
      console.log(
        `  ${label.padEnd(33)} ${f2(r.seconds)} s total, ${f2(r.writeSeconds)} s write, ${r.sectorsWritten} sectors written ` +
          `(${r.detail}; cpu ${f2(r.cpuSeconds)} s (${r.cpuSplit}; main thread ${f2(r.threadCpuSeconds)} s), ${after.hostToChip - before.hostToChip} bytes host→chip, ${after.sectorErases - before.sectorErases} sector erases; ${ok ? 'flash matches the plan' : 'FLASH DIFFERS FROM THE PLAN'})`,
      );
    } catch (e) {
      console.log(`  ${label.padEnd(33)} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  bridge.kill();
  host.stop();

  // espfleet in-process over sim:// (the chip shares this process, so its CPU figure includes the simulated board).
  console.log('\nfull write in-process over sim:// (classic reset through the virtual DTR/RTS; cpu includes the simulated board):');
  const chip = new VirtualEsp32({ name: 'bench-flash-sim', throttle: true });
  chip.powerOn();
  const unregister = registerSimBoard('bench-flash-sim', chip);
  const sim: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    chip.flash.eraseAll();
    const before = chip.wireStats();
    let run: Run;
    try {
      const r = await espfleetWrite(() => connectBoard('sim://bench-flash-sim', { reset: 'classic', baud: BAUD }), plan);
      run = { tool: 'espfleet (sim://)', ...r, ok: checkOf(plan).every((c) => md5(chip.flash.bytes.subarray(c.address, c.address + c.length)) === c.md5) };
    } catch (e) {
      run = { tool: 'espfleet (sim://)', seconds: NaN, writeSeconds: NaN, detail: `failed: ${e instanceof Error ? e.message : String(e)}`, ok: false };
    }
    sim.push(run);
    printRun(++n, run, { hostToChip: chip.wireStats().hostToChip - before.hostToChip });
  }
  unregister();
  rmSync(dir, { recursive: true, force: true });

  const fleet = median(pty.filter((r) => r.tool.startsWith('espfleet')).map((r) => r.seconds));
  const tool = median(pty.filter((r) => r.tool.startsWith('esptool')).map((r) => r.seconds));
  const fleetW = median(pty.filter((r) => r.tool.startsWith('espfleet')).map((r) => r.writeSeconds));
  const toolW = median(pty.filter((r) => r.tool.startsWith('esptool')).map((r) => r.writeSeconds));
  const fleetRuns = pty.filter((r) => r.cpuSeconds !== undefined);
  const cpu = median(fleetRuns.map((r) => r.cpuSeconds as number));
  const cpuLater = median(fleetRuns.slice(1).map((r) => r.cpuSeconds as number));
  const threadCpu = median(fleetRuns.map((r) => r.threadCpuSeconds ?? NaN));
  console.log('\nsummary (medians):');
  console.log(`  espfleet (pty) ${f2(fleet)} s, esptool (pty) ${f2(tool)} s → ratio espfleet/esptool ${f2(fleet / tool)} (target ≤ 1.00)`);
  console.log(`  write phase only: espfleet ${f2(fleetW)} s, esptool ${f2(toolW)} s → ratio ${f2(fleetW / toolW)}`);
  console.log(`  espfleet in-process (sim://) ${f2(median(sim.map((r) => r.seconds)))} s; ratio to esptool (pty) ${f2(median(sim.map((r) => r.seconds)) / tool)}`);
  console.log(
    `  espfleet host CPU per full write (pty, board in another process) ${f2(cpu)} s, main thread ${f2(threadCpu)} s; ` +
      `runs after the first (modules loaded) ${f2(cpuLater)} s (target: well under 1 s)`,
  );
}

if (process.argv.includes('--board-host')) {
  await boardHost();
} else {
  await main();
  // esptool-js keeps timers after a session closes; the figures are out.
  process.exit(0);
}
