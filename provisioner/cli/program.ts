// Builds the `espfleet` program. Nothing here parses argv on import: tests call
// runCli() in-process with their own stdout/stderr/env (STYLE.md lesson 6).
import { Command, CommanderError } from 'commander';
import { EspfleetError, isEspfleetError } from '../../firmware-js/errors.ts';
import { makeContext, type CliContext, type CliIo } from './context.ts';
import { commandGroups } from './commands/index.ts';

export function createProgram(io: CliIo): { program: Command; ctx: CliContext } {
  const ctx = makeContext(io);
  const program = new Command('espfleet')
    .description(
      'Provision, secure and update ESP32 boards that run Mongoose OS.\n' +
        'Factory: flash many boards with per-device identity and flash encryption.\n' +
        'Field: identify, reflash and repair one board over USB.\n' +
        'Fleet: sign firmware bundles and roll them out over MQTT.',
    )
    .version(packageVersion(), '-V, --version')
    // Root options only before the command, so `fw demo-bundle --version 1.2.0` means the firmware's version.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .exitOverride();
  for (const register of commandGroups) register(program, ctx);
  // Subcommands must inherit output and exit handling from the root.
  forEachCommand(program, (cmd) => {
    cmd.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
    cmd.exitOverride();
  });
  return { program, ctx };
}

/** Runs the program to completion and returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const { program } = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    return reportError(e, io);
  }
}

/** Commands that need a non-zero exit without an error (e.g. a failed check) throw this. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * A command stopped by Ctrl-C at a safe point: the message says what was interrupted and
 * the state it left, the hint what a re-run does; the exit status is 130 (128 + SIGINT).
 */
export class Interrupted extends EspfleetError {
  readonly exitCode = 130;
}

function reportError(e: unknown, io: CliIo): number {
  if (e instanceof ExitCode) return e.code;
  if (e instanceof Interrupted) {
    io.stderr.write(`interrupted: ${e.message} [${e.code}]\n`);
    if (e.hint) io.stderr.write(`hint: ${e.hint}\n`);
    return e.exitCode;
  }
  if (e instanceof CommanderError) {
    // Commander already printed usage errors; help and version exit 0.
    return e.exitCode;
  }
  if (isEspfleetError(e)) {
    io.stderr.write(`error: ${e.message} [${e.code}]\n`);
    if (e.hint) io.stderr.write(`hint: ${e.hint}\n`);
    return 1;
  }
  // A bug: show everything.
  io.stderr.write(`internal error (please report): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 70;
}

function forEachCommand(cmd: Command, fn: (c: Command) => void): void {
  for (const sub of cmd.commands) {
    fn(sub);
    forEachCommand(sub, fn);
  }
}

function packageVersion(): string {
  return '0.1.0';
}
