// `espfleet device console`: the board's log on UART0, without resetting it.
import type { Command } from 'commander';
import { watchConsole } from '../../../field/console.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';

interface Options {
  port: string;
  baud?: number;
  duration?: number;
  frames?: boolean;
}

export function register(device: Command, ctx: CliContext): void {
  device
    .command('console')
    .description("print the board's log (UART0) until Ctrl-C, without resetting it")
    .requiredOption('-p, --port <url>', 'the board: /dev/ttyUSB0, COM3, rfc2217://host:port or sim://name')
    .option('--baud <n>', 'line speed (Mongoose OS: 115200)', intArg(300, 5_000_000))
    .option('--duration <ms>', 'stop after this long instead of at Ctrl-C', intArg(1, 86_400_000))
    .option('--frames', 'also print the RPC frames on the line')
    .addHelpText(
      'after',
      `
DTR and RTS are de-asserted, so the board keeps running. To see the boot log, start the
console and then reset the board (EN button, or \`espfleet device reboot\` from another shell).

Examples:
  espfleet device console --port /dev/ttyUSB0
  espfleet device console --port rfc2217://127.0.0.1:4000 --duration 10000`,
    )
    .action(async (opts: Options) => {
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      const timer = opts.duration === undefined ? undefined : setTimeout(() => stop.abort(), opts.duration);
      try {
        await watchConsole(opts.port, {
          ...(opts.baud === undefined ? {} : { baud: opts.baud }),
          ...(opts.frames ? { frames: true } : {}),
          onLine: (line) => ctx.out(line),
          signal: stop.signal,
        });
      } finally {
        clearTimeout(timer);
        process.removeListener('SIGINT', onSigint);
      }
    });
}
