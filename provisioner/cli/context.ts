// What every command gets instead of reaching for process globals, so the whole
// program runs in-process in tests (STYLE.md lesson 6).
import type { Writable } from 'node:stream';
import type { ProgressClock } from './progress.ts';

export interface CliIo {
  stdout: Pick<Writable, 'write'> & { isTTY?: boolean };
  stderr: Pick<Writable, 'write'> & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Reads a secret interactively; absent when there is no terminal. */
  prompt?: (question: string) => Promise<string>;
  /** Ctrl-C for commands that stop cleanly (flash, provision); absent in-process unless a test gives one. */
  interrupt?: CliInterrupt;
  /** The progress reporter's clock and heartbeat; tests give their own (cli/progress.ts). */
  progressClock?: ProgressClock;
}

export interface CliInterrupt {
  /** Aborted on the first Ctrl-C while a command holds the interrupt. */
  signal: AbortSignal;
  /**
   * A command that stops cleanly holds it while it runs (returns the release); with no
   * holder, Ctrl-C ends the process at once with status 130, as before.
   */
  hold(): () => void;
}

export interface CliContext extends CliIo {
  /** Prints one line of human output. */
  out(line?: string): void;
  /** Prints data as JSON (the --json form of every command). */
  json(data: unknown): void;
  /** Prints a line of progress or warning to stderr. */
  note(line: string): void;
  /** The program with every group loaded (for `completion`, which describes them all). */
  fullProgram?: () => Promise<import('commander').Command>;
}

export function makeContext(io: CliIo): CliContext {
  return {
    ...io,
    out: (line = '') => void io.stdout.write(`${line}\n`),
    json: (data) => void io.stdout.write(`${JSON.stringify(data, jsonReplacer, 2)}\n`),
    note: (line) => void io.stderr.write(`${line}\n`),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}
