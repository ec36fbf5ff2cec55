// Builds the `espfleet` program. Nothing here parses argv on import: tests call
// runCli() in-process with their own stdout/stderr/env (STYLE.md lesson 6). Commands end
// through cli/exit.ts (ExitCode, Interrupted), which this module maps to exit statuses.
import { Command, CommanderError } from 'commander';
import { isEspfleetError } from '../../firmware-js/errors.ts';
import { makeContext, type CliContext, type CliIo } from './context.ts';
import { commandGroups } from './commands/index.ts';
import { ExitCode, Interrupted } from './exit.ts';

/**
 * Builds the program for one command line. Only the group that `argv` chooses is loaded;
 * the others stand in as a name and a summary, which is all `espfleet --help` shows of
 * them. `allGroups` loads every group (for tests that walk every command's options).
 */
export async function createProgram(io: CliIo, opts: { argv?: readonly string[]; allGroups?: boolean } = {}): Promise<{ program: Command; ctx: CliContext }> {
  const ctx = makeContext(io);
  ctx.fullProgram = async () => (opts.allGroups ? program : (await createProgram(io, { allGroups: true })).program);
  const program = new Command('espfleet')
    .description(
      'Provision, secure and update ESP32 boards that run Mongoose OS.\n' +
        'Factory: flash many boards with per-device identity and flash encryption.\n' +
        'Field: identify, reflash and repair one board over USB; talk to Mongoose OS on it (device …).\n' +
        'Fleet: sign firmware bundles (rollouts over MQTT: not built yet).',
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
  const chosen = opts.allGroups ? undefined : chosenGroup(opts.argv ?? []);
  for (const group of commandGroups) {
    if (opts.allGroups || group.name === chosen) {
      (await group.load())(program, ctx);
      const cmd = program.commands.at(-1);
      if (cmd?.name() !== group.name) throw new Error(`command group ${group.name} registered ${cmd?.name() ?? 'nothing'}`);
      cmd.description(group.summary);
    } else {
      program.command(group.name).description(group.summary);
    }
  }
  // Subcommands must inherit output and exit handling from the root.
  forEachCommand(program, (cmd) => {
    cmd.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
    cmd.exitOverride();
  });
  return { program, ctx };
}

/** The group a command line runs: its first word (root options take no values), or `help <group>`. */
function chosenGroup(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/** Runs the program to completion and returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const { program } = await createProgram(io, { argv });
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    return reportError(e, io, wantsJson(argv));
  }
}

/** `--json` among the options (not after `--`): errors are printed as JSON too. */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Prints an error and returns the exit status. With `--json` the error is one JSON object
 * on stdout, `{"error": {"code", "message", "hint"}}`, where the result would have been
 * (docs/cli.md "JSON"); the exit statuses are the same either way.
 */
export function reportError(e: unknown, io: CliIo, json = false): number {
  const asJson = (code: string, message: string, hint: string | undefined, exit: number) => {
    io.stdout.write(`${JSON.stringify({ error: { code, message, hint: hint ?? null, exitCode: exit } })}\n`);
    return exit;
  };
  if (e instanceof ExitCode) return e.code;
  if (e instanceof Interrupted) {
    if (json) return asJson(e.code, e.message, e.hint, e.exitCode);
    io.stderr.write(`interrupted: ${e.message} [${e.code}]\n`);
    if (e.hint) io.stderr.write(`hint: ${e.hint}\n`);
    return e.exitCode;
  }
  if (e instanceof CommanderError) {
    // Commander already printed usage errors on stderr; help and version exit 0.
    if (json && e.exitCode !== 0) return asJson(`cli.usage.${e.code.replace(/^commander\./, '')}`, e.message.replace(/^error: /, ''), 'run with --help for usage', e.exitCode);
    return e.exitCode;
  }
  if (isEspfleetError(e)) {
    if (json) return asJson(e.code, e.message, e.hint, 1);
    io.stderr.write(`error: ${e.message} [${e.code}]\n`);
    if (e.hint) io.stderr.write(`hint: ${e.hint}\n`);
    return 1;
  }
  // A bug: show everything (the stack on stderr, also with --json).
  io.stderr.write(`internal error (please report): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  if (json) return asJson('cli.internal', e instanceof Error ? e.message : String(e), 'this is a bug in espfleet: please report it with the stack printed on stderr', 70);
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
