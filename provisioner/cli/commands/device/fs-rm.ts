// `espfleet device fs rm`: remove a file from the board (FS.Remove).
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(fs: Command, ctx: CliContext): void {
  addDeviceOptions(fs.command('rm <remote>'))
    .description('remove a file from the board')
    .addHelpText(
      'after',
      `
Example:
  espfleet device fs rm old-app.js --port /dev/ttyUSB0`,
    )
    .action(async (remote: string, opts: DeviceCliOptions) => {
      await withDevice(opts.port, deviceOptions(ctx, opts), (d) => d.fsRemove(remote));
      if (opts.json) return ctx.json({ removed: remote });
      ctx.out(`removed ${remote}`);
    });
}
