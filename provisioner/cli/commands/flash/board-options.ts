// The options every command that talks to a board in download mode shares
// (`--port`, `--reset`, `--baud`), and turning them into board-session options.
import { Option, type Command } from 'commander';
import type { BoardSessionOptions, ResetMode } from '../../../session/index.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';

export interface BoardCliOptions {
  port: string;
  reset: ResetMode;
  baud?: number;
}

export function addBoardOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-p, --port <url>', 'the board: /dev/ttyUSB0, COM3, rfc2217://host:port or sim://name')
    .addOption(
      new Option('--reset <how>', 'how to put the board into download mode (tight: both lines at once, for bridges that glitch)')
        .choices(['classic', 'tight', 'none'])
        .default('classic'),
    )
    .option('--baud <n>', 'baud rate after the flasher stub runs (the ROM starts at 115200)', intArg(9600, 5_000_000));
}

/** Session options from parsed flags; esptool-js's chatter goes to stderr only with ESPFLEET_DEBUG set. */
export function sessionOptions(ctx: CliContext, opts: BoardCliOptions): BoardSessionOptions {
  const debug = Boolean(ctx.env.ESPFLEET_DEBUG);
  return {
    reset: opts.reset,
    ...(opts.baud === undefined ? {} : { baud: opts.baud }),
    ...(debug ? { log: (line: string) => ctx.note(`debug: ${line.trimEnd()}`) } : {}),
  };
}
