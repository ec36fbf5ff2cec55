// Runs the espfleet program in-process with captured output, as a user would
// from a shell (STYLE.md lesson 6).
import { runCli } from '../cli/program.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for commands that print binary data. */
  stdoutBytes: Uint8Array;
}

export interface CliRunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Answers to interactive prompts, in order; without it there is no terminal. */
  answers?: string[];
  /** Stands for Ctrl-C: aborting it interrupts a command that holds the interrupt (flash, provision). */
  interrupt?: AbortSignal;
  /** Sees each stderr write as it happens (e.g. to press "Ctrl-C" at a progress line). */
  onStderr?: (text: string) => void;
}

export async function espfleet(args: readonly string[], opts: CliRunOptions = {}): Promise<CliRun> {
  const out: Uint8Array[] = [];
  const err: string[] = [];
  const answers = opts.answers ? [...opts.answers] : undefined;
  const code = await runCli(args, {
    stdout: { write: (chunk: string | Uint8Array) => (out.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk), true) },
    stderr: { write: (chunk: string | Uint8Array) => (err.push(String(chunk)), opts.onStderr?.(String(chunk)), true) },
    env: opts.env ?? {},
    cwd: opts.cwd ?? process.cwd(),
    ...(answers ? { prompt: async () => answers.shift() ?? '' } : {}),
    ...(opts.interrupt ? { interrupt: { signal: opts.interrupt, hold: () => () => {} } } : {}),
  });
  const stdoutBytes = new Uint8Array(Buffer.concat(out));
  return { code, stdout: Buffer.from(stdoutBytes).toString('utf8'), stderr: err.join(''), stdoutBytes };
}
