// The real `espfleet` process (espfleet.mjs → main.ts), for what in-process runs cannot
// show: a stdout the reader has closed (`espfleet flash --help | head`).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/lib/oracles.ts';

const bin = join(repoRoot, 'provisioner/cli/espfleet.mjs');

/** Runs espfleet with its stdout pipe closed by the reader after `keepBytes` bytes. */
function runWithStdoutClosed(args: string[], keepBytes: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let stderr = '';
    if (keepBytes === 0) child.stdout.destroy();
    else
      child.stdout.on('data', (b: Buffer) => {
        seen += b.length;
        if (seen >= keepBytes) child.stdout.destroy(); // like `head -c`
      });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('espfleet with a closed stdout', () => {
  it('`espfleet flash --help | head`: ends quietly, no EPIPE stack', { timeout: 60_000 }, async () => {
    for (const keep of [0, 1]) {
      const run = await runWithStdoutClosed(['flash', '--help'], keep);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    }
  });

  it('a long listing into a closed pipe ends quietly too', { timeout: 60_000 }, async () => {
    const run = await runWithStdoutClosed(['--help'], 0);
    expect(run.stderr).not.toMatch(/EPIPE|Unhandled|\n\s+at /);
    expect(run.code).toBe(0);
  });
});
