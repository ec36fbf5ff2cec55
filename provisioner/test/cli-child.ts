// `espfleet` as its own process, run from the sources (a service, or a command a test kills):
// its stdout collected line by line (JSON lines for --json services), stderr kept whole.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/lib/oracles.ts';

export interface CliChild {
  child: ChildProcess;
  /** stdout lines so far. */
  lines: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** SIGTERM (a clean stop), then wait for the exit. */
  stop(): Promise<void>;
}

export function spawnCli(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliChild {
  const child = spawn(process.execPath, [join(repoRoot, 'provisioner/cli/espfleet.mjs'), ...args], {
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    env: { ...process.env, ESPFLEET_FROM_SOURCE: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    running,
    async stop() {
      if (running()) child.kill('SIGTERM');
      await exited;
    },
  };
}
