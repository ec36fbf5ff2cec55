// `espfleet device reboot`: Sys.Reboot, then wait until the firmware answers again.
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(device: Command, ctx: CliContext): void {
  addDeviceOptions(device.command('reboot'))
    .description('reboot the board (a software reset through its boot check) and wait for it')
    .option('--delay <ms>', 'how long the board waits before rebooting', intArg(0, 600_000), 100)
    .option('--no-wait', 'return once the board has accepted the reboot')
    .addHelpText(
      'after',
      `
Examples:
  espfleet device reboot --port /dev/ttyUSB0
  espfleet device reboot --delay 2000 --no-wait --port /dev/ttyUSB0`,
    )
    .action(async (opts: DeviceCliOptions & { delay: number; wait: boolean }) => {
      await withDevice(opts.port, deviceOptions(ctx, opts), (d) => d.reboot({ delayMs: opts.delay, wait: opts.wait }));
      if (opts.json) return ctx.json({ rebooted: true, waited: opts.wait });
      ctx.out(opts.wait ? 'the board rebooted and answers again' : 'the board accepted the reboot');
    });
}
