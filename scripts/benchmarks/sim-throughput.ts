// Bench: `esptool write-flash` of 1 MiB of random data to the virtual ESP32 throttled to
// 921600 baud, against the wire time that baud implies (bytes / (baud / 10)). Three paths:
// a pseudo-terminal (pyserial on a real tty, as with a USB bridge), RFC 2217 (pyserial's
// client re-negotiates the port on every timeout change, ~0.2 s per command, which dominates),
// and esptool-js in-process as the reference for the double's own pacing.
// SIM_BENCH_ONLY_PTY=1 skips the slow RFC 2217 run; SIM_BENCH_NO_THROTTLE=1 shows the host-side floor.
// Prints figures; asserts nothing.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { esptool, repoRoot } from '../lib/oracles.ts';
import { PTY_BRIDGE } from '../lib/pty-bridge.ts';
import { ESPLoader, Transport } from 'esptool-js';
import { RawTcpServer, Rfc2217Server, SimTransport, VirtualEsp32 } from '../../hil-tests/index.ts';
import { WebSerialAdapter } from '../../provisioner/session/index.ts';

const BAUD = 921600;
const SIZE = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'sim-bench-'));
const image = join(dir, 'random-1MiB.bin');
writeFileSync(image, randomBytes(SIZE));


interface Figures {
  path: string;
  seconds: number;
  code: number;
}

async function putInDownloadMode(chip: VirtualEsp32): Promise<void> {
  chip.setSignals({ dtr: false, rts: true });
  await new Promise((r) => setTimeout(r, 10));
  chip.setSignals({ dtr: true, rts: false });
  await new Promise((r) => setTimeout(r, 20));
  chip.setSignals({ dtr: false, rts: false });
}

function parse(stdout: string): { seconds: number } {
  const m = /Wrote \d+ bytes(?: \(\d+ compressed\))? at 0x[0-9a-f]+ in ([\d.]+) seconds/.exec(stdout);
  if (!m) throw new Error(`esptool output has no "Wrote ..." line:\n${stdout}`);
  return { seconds: Number(m[1]) };
}

async function overPty(): Promise<Figures> {
  const chip = new VirtualEsp32({ name: 'bench-pty', throttle: process.env.SIM_BENCH_NO_THROTTLE !== '1' });
  chip.powerOn();
  const server = new RawTcpServer(chip);
  const { host, port } = await server.listen();
  const bridge = spawn(join(repoRoot, '.venv/bin/python'), ['-c', PTY_BRIDGE, host, String(port)]);
  const tty = await new Promise<string>((resolve) => bridge.stdout.once('data', (b: Buffer) => resolve(b.toString().trim())));
  await putInDownloadMode(chip);
  const r = await esptool(['--port', tty, '--baud', String(BAUD), '--before', 'no-reset', '--after', 'no-reset', 'write-flash', '0', image], {
    timeoutMs: 300_000,
  });
  bridge.kill();
  await server.close();
  return { path: 'pty (tty bridge)', seconds: r.code === 0 ? parse(r.stdout).seconds : NaN, code: r.code };
}

async function overRfc2217(): Promise<Figures> {
  const chip = new VirtualEsp32({ name: 'bench-rfc2217', throttle: true });
  chip.powerOn();
  const server = new Rfc2217Server(chip);
  const url = await server.listen();
  const r = await esptool(['--port', url, '--baud', String(BAUD), 'write-flash', '0', image], { timeoutMs: 300_000 });
  await server.close();
  return { path: 'rfc2217 (pyserial client)', seconds: r.code === 0 ? parse(r.stdout).seconds : NaN, code: r.code };
}

async function inProcessEsptoolJs(): Promise<Figures> {
  const chip = new VirtualEsp32({ name: 'bench-js', throttle: true });
  chip.powerOn();
  // The product's Web-Serial-shaped port over a Transport, as the board session uses it.
  const transport = new Transport(new WebSerialAdapter(new SimTransport(chip)) as never, false);
  const quiet = { clean: () => undefined, writeLine: () => undefined, write: () => undefined };
  const loader = new ESPLoader({ transport, baudrate: BAUD, terminal: quiet });
  await loader.main();
  const data = new Uint8Array(readFileSync(image));
  const start = performance.now();
  await loader.writeFlash({ fileArray: [{ data, address: 0 }], flashSize: 'keep', flashMode: 'keep', flashFreq: 'keep', eraseAll: false, compress: false });
  return { path: 'esptool-js (in-process)', seconds: (performance.now() - start) / 1000, code: 0 };
}

/** Bytes the write phase puts on the wire: SLIP-escaped FLASH_DATA packets of 16 KiB blocks. */
function wireBytesFor(data: Uint8Array, block = 0x4000): number {
  let total = 0;
  for (let at = 0; at < data.length; at += block) {
    const payload = data.subarray(at, at + block);
    let escapes = 0;
    for (const b of payload) if (b === 0xc0 || b === 0xdb) escapes++;
    total += 2 + 8 + 16 + block + escapes; // delimiters, header, data header, padded block
  }
  return total;
}

const data = new Uint8Array(readFileSync(image));
const wire = wireBytesFor(data);
const wireSeconds = wire / (BAUD / 10);
console.log(`payload 1 MiB random (incompressible), ${wire} bytes on the wire at ${BAUD} baud → ${wireSeconds.toFixed(2)} s wire time`);
for (const run of process.env.SIM_BENCH_ONLY_PTY === '1' ? [overPty] : [overPty, overRfc2217, inProcessEsptoolJs]) {
  const f = await run();
  const ratio = f.seconds / wireSeconds;
  console.log(
    `${f.path.padEnd(28)} write took ${Number.isNaN(f.seconds) ? `- (exit ${f.code})` : `${f.seconds.toFixed(2)} s`}` +
      `  ratio ${Number.isNaN(ratio) ? '-' : ratio.toFixed(2)}  ${Math.abs(ratio - 1) <= 0.2 ? 'within ±20 %' : 'outside ±20 %'}`,
  );
}
// esptool-js prints its trace on disconnect and keeps timers; the figures are out.
process.exit(0);
