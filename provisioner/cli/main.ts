// Process entry: wires the real streams, environment and a terminal prompt into runCli.
import { createInterface } from 'node:readline/promises';
import { runCli } from './program.ts';

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  endQuietlyWhenOutputCloses();
  return runCli(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    ...(process.stdin.isTTY ? { prompt: promptHidden } : {}),
  });
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
