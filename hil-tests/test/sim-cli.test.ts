// `espfleet sim` as a user runs it: a child process serving a state file over RFC 2217,
// esptool writing to it, state saved on SIGTERM and loaded again on the next start.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { esptool, repoRoot } from '../../scripts/lib/oracles.ts';
import { runCli } from '../../provisioner/cli/program.ts';
import { loadState } from '../index.ts';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';

function startSim(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'provisioner/cli/espfleet.mjs'), 'sim', ...args], { cwd: repoRoot });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve({ child, url: line.trim(), stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`espfleet sim exited ${code}: ${err}`)));
  });
}

function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('espfleet sim', () => {
  it('has complete help with an esptool example', async () => {
    let out = '';
    const code = await runCli(['sim', '--help'], { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: () => true }, env: {}, cwd: repoRoot });
    expect(code).toBe(0);
    for (const text of ['--listen <host:port>', '--state <file>', '--mac', '--flash-size', '--revision', '--throttle', '--chip-magic', 'esptool --port rfc2217://127.0.0.1:4000']) {
      expect(out).toContain(text);
    }
  });

  it('serves a new board, keeps what esptool wrote across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-cli-'));
    const state = join(dir, 'board.sim');
    const first = await startSim(['--listen', '127.0.0.1:0', '--state', state, '--mac', '24:0a:c4:77:88:99', '--flash-size', '8MB', '--revision', '1']);
    expect(first.url).toMatch(/^rfc2217:\/\/127\.0\.0\.1:\d+$/);
    const image = new SeededRandom(21).bytes(8192);
    const path = join(dir, 'img.bin');
    writeFileSync(path, image);
    const w = await esptool(['--port', first.url, 'write-flash', '0x30000', path], { timeoutMs: 120_000 });
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stdout).toMatch(/revision v1\.0/);
    expect(w.stdout).toMatch(/MAC:\s+24:0a:c4:77:88:99/);
    expect(await stop(first.child)).toBe(0);
    expect(first.stderr()).toContain('new board board: ESP32 v1, MAC 24:0a:c4:77:88:99, 8 MB flash');

    const saved = loadState(state);
    expect(Buffer.from(saved.flash.read(0x30000, image.length)).equals(Buffer.from(image))).toBe(true);

    // Options for a new board are ignored when the state exists: it is the same board.
    const second = await startSim(['--listen', '127.0.0.1:0', '--state', state, '--mac', '02:00:00:00:00:01']);
    const v = await esptool(['--port', second.url, 'verify-flash', '0x30000', path], { timeoutMs: 120_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/MAC:\s+24:0a:c4:77:88:99/);
    expect(await stop(second.child)).toBe(0);
    expect(second.stderr()).toContain('loaded board board');
  }, 170_000);
});
