// Process entry: wires the real streams, environment and a terminal prompt into runCli.
import { createInterface } from 'node:readline/promises';
import type { CliInterrupt } from './context.ts';
import { runCli } from './program.ts';

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  endQuietlyWhenOutputCloses();
  return runCli(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    interrupt: processInterrupt(),
    ...(process.stdin.isTTY ? { prompt: promptHidden } : {}),
  });
}

/**
 * SIGINT as a CliInterrupt. While a command holds it (flash, provision), the first Ctrl-C
 * aborts its signal and the command stops at its next safe point and says where; a second
 * one stops at once. With no holder: a command with its own SIGINT listener (sim, provision
 * --watch) handles it, any other ends now with 130 like Node's default.
 */
function processInterrupt(): CliInterrupt {
  const controller = new AbortController();
  let holders = 0;
  const onSigint = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\ninterrupted again: stopping at once; the work in progress is cut off where it was (re-run the command to repair and resume)\n');
      process.exit(130);
    }
    if (holders > 0) {
      process.stderr.write('\ninterrupted (Ctrl-C): stopping at the next safe point; Ctrl-C again to stop at once\n');
      controller.abort();
      return;
    }
    if (process.listenerCount('SIGINT') > 1) return;
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  return {
    signal: controller.signal,
    hold() {
      holders++;
      let held = true;
      return () => {
        if (held) holders--;
        held = false;
      };
    },
  };
}

async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Mute echo so a passphrase never shows on screen.
  const out = rl as unknown as { _writeToOutput?: (s: string) => void };
  process.stderr.write(question);
  out._writeToOutput = () => {};
  try {
    const answer = await rl.question('');
    process.stderr.write('\n');
    return answer;
  } finally {
    rl.close();
  }
}

/**
 * `espfleet flash --help | head`: once the reader has gone there is no one to tell anything,
 * so a closed stdout ends the program at once and quietly, as git and esptool do (status 0:
 * the shell reports the pipeline's last command anyway). A closed stderr is ignored.
 */
function endQuietlyWhenOutputCloses(): void {
  const closed = (e: NodeJS.ErrnoException) => e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED';
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (!closed(e)) throw e;
    process.exit(0);
  });
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (!closed(e)) throw e;
  });
}
