// Real Ctrl-C: `espfleet flash` as a child process against `espfleet sim` in another
// process (throttled, so a write takes long enough to be cut), SIGINT sent at several
// points. Each run prints what was interrupted and the board's state, exits 130 without
// a stack, and a re-run finishes the job.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { repoRoot } from '../../scripts/lib/oracles.ts';

const bin = join(repoRoot, 'provisioner/cli/espfleet.mjs');
const dir = mkdtempSync(join(tmpdir(), 'espfleet-sigint-'));
const bundle = join(dir, 'fw.zip');
let sim: ChildProcessWithoutNullStreams;
let url: string;

beforeAll(async () => {
  writeFileSync(bundle, makeDemoFirmware({ version: '1.0.0', appSize: 0x20000 }).bundle);
  sim = spawn(process.execPath, [bin, 'sim', '--listen', '127.0.0.1:0', '--state', join(dir, 'board.sim'), '--throttle'], { cwd: repoRoot });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    sim.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]?.trim() ?? '');
    });
    sim.on('exit', (code) => reject(new Error(`espfleet sim exited ${code}`)));
  });
}, 60_000);

afterAll(async () => {
  await new Promise((r) => {
    sim.once('exit', r);
    sim.kill('SIGTERM');
  });
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs espfleet; `when` decides from stderr so far whether to send SIGINT now (each time it says so). */
function run(args: string[], when: (stderr: string) => number = () => 0): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: { ...process.env, ESPFLEET_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    let sent = 0;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      for (const want = when(stderr); sent < want; sent++) child.kill('SIGINT');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function expectInterrupted(r: Run, state: RegExp): void {
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toMatch(/^interrupted \(Ctrl-C\): stopping at the next safe point; Ctrl-C again to stop at once$/m);
  expect(r.stderr).toMatch(/^interrupted: flash on rfc2217:\/\/\S+ stopped .+ \[cli\.interrupted\]$/m);
  expect(r.stderr).toMatch(state);
  expect(r.stderr).toMatch(/^hint: run the same command again/m);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at |EPIPE/);
}

/** The port is free again once the previous client's socket has closed on the server. */
const portFree = () => new Promise((r) => setTimeout(r, 300));

describe('SIGINT to espfleet flash (real processes)', () => {
  it('at the start: nothing or little written; the re-run writes and verifies', { timeout: 240_000 }, async () => {
    const r = await run(['flash', '--port', url, bundle], (e) => (/^flashing /m.test(e) ? 1 : 0));
    // The signal lands within a command or two of the line (the exact phases are pinned in cli-flash-interrupt.test.ts).
    expectInterrupted(r, /stopped while (comparing|writing) boot at 0x00001000: (nothing of boot written yet|boot partly written)/);
    await portFree();
    const again = await run(['flash', '--port', url, bundle]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^wrote \d+ sector\(s\)/);
  });

  it('mid-write after some regions: those verified, the one in progress partly written; the re-run repairs', { timeout: 240_000 }, async () => {
    const v2 = join(dir, 'fw2.zip');
    writeFileSync(v2, makeDemoFirmware({ version: '2.0.0', appSize: 0x20000, seed: 2 }).bundle);
    await portFree();
    const r = await run(['flash', '--port', url, v2], (e) => (/^boot at 0x00001000: .* verified$/m.test(e) ? 1 : 0));
    expectInterrupted(r, /boot at 0x00001000 written and verified; |stopped after boot at 0x00001000/);
    await portFree();
    const again = await run(['flash', '--port', url, v2]);
    expect(again.code, again.stderr).toBe(0);
    await portFree();
    const third = await run(['flash', '--port', url, v2]);
    expect(third.stdout).toMatch(/^no sector changed: /);
  });

  it('Ctrl-C twice: the second stops at once with 130 and says so', { timeout: 120_000 }, async () => {
    // A port that accepts and then never answers: the child is connecting (and holds the
    // interrupt) for seconds, long enough for both presses.
    const sockets: Socket[] = [];
    const silent = createServer((s) => {
      sockets.push(s);
      connected();
    });
    let connected = () => {};
    const accepted = new Promise<void>((r) => (connected = r));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as AddressInfo).port;
    try {
      const child = spawn(process.execPath, [bin, 'flash', '--port', `rfc2217://127.0.0.1:${port}`, bundle], { cwd: repoRoot });
      let stderr = '';
      let second = false;
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!second && /stopping at the next safe point/.test(stderr)) {
          second = true;
          child.kill('SIGINT');
        }
      });
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      await accepted;
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toMatch(/^interrupted \(Ctrl-C\): stopping at the next safe point/m);
      expect(stderr).toMatch(/^interrupted again: stopping at once/m);
      expect(stderr).not.toMatch(/internal error|\n\s+at /);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('SIGINT to espfleet provision (real processes)', () => {
  it('while connecting: the board stops after identify, exit 130 with its state; the re-run resumes and provisions it', { timeout: 300_000 }, async () => {
    const passphrase = randomBytes(24).toString('base64');
    await initCa({ dir: join(dir, 'ca'), passphrase });
    writeFileSync(join(dir, 'ca.pass'), `${passphrase}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'keystore.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    await createKeystore(join(dir, 'keys.json'), { keyFile: join(dir, 'keystore.key') });
    const signer = generateSigningKey();
    writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
    writeFileSync(join(dir, 'station-fw.zip'), signBundle(makeDemoFirmware({ version: '4.0.0', appSize: 0x10000, seed: 4 }).bundle, signer.privateKeyPem, 0));
    const station = join(dir, 'station.toml');
    writeFileSync(
      station,
      ['[station]', 'id = "sigint-line"', 'operator = "tester"', '', '[firmware]', 'bundle = "station-fw.zip"', 'signing_keys = ["sign0.pub.pem"]', '',
        '[ca]', 'dir = "ca"', 'passphrase_file = "ca.pass"', '', '[keystore]', 'path = "keys.json"', 'key_file = "keystore.key"', '',
        '[mqtt]', 'server = "mqtt.example.net:8883"', '', '[encryption]', 'mode = "off"', '', '[ports]', `urls = [${JSON.stringify(url)}]`, ''].join('\n'),
    );
    await portFree();
    const r = await run(['provision', '--station', station], (e) => (e.includes(`[${url}] connecting`) ? 1 : 0));
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/^interrupted \(Ctrl-C\): stopping at the next safe point/m);
    expect(r.stderr).toMatch(new RegExp(`^\\[${url}\\] esp32_[0-9A-F]{6} \\(\\S+\\): identified, nothing issued or written; journal up to date$`, 'm'));
    expect(r.stderr).toMatch(/^interrupted: provisioning stopped by Ctrl-C: 1 board\(s\) stopped at a safe point .* \[cli\.interrupted\]$/m);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    await portFree();
    const again = await run(['provision', '--station', station]);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toMatch(/provisioned \(resumed\)/);
  });
});
