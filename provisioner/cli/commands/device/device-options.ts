// The options every `espfleet device …` command shares (the board's port, line speed, reply
// timeout, the board's log), and turning them into RPC channel options.
import type { Command } from 'commander';
import type { DeviceOptions } from '../../../field/device.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';

export interface DeviceCliOptions {
  port: string;
  baud?: number;
  timeout?: number;
  log?: boolean;
  pace?: boolean;
  json?: boolean;
}

export function addDeviceOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-p, --port <url>', 'the board: /dev/ttyUSB0, COM3, rfc2217://host:port or sim://name')
    .option('--baud <n>', 'line speed of the board\'s RPC UART (Mongoose OS: 115200)', intArg(300, 5_000_000))
    .option('--timeout <ms>', 'how long to wait for each reply (default 10000)', intArg(1, 600_000))
    .option('--log', "show the board's log lines (on stderr)")
    .option('--no-pace', "send frames at full speed (mos --rpc-uart-no-delay); by default USB serial ports at 115200 get mos's 16-byte/5 ms pacing")
    .option('--json', 'print the result as JSON');
}

export function deviceOptions(ctx: CliContext, opts: DeviceCliOptions): DeviceOptions {
  return {
    ...(opts.baud === undefined ? {} : { baud: opts.baud }),
    ...(opts.timeout === undefined ? {} : { timeoutMs: opts.timeout }),
    ...(opts.pace === false ? { pacing: false as const } : {}),
    ...(opts.log ? { onLog: (line: string) => ctx.note(`board: ${line}`) } : {}),
  };
}
