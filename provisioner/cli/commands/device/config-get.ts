// `espfleet device config get`: the board's running config, a subtree or one value (Config.Get).
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(config: Command, ctx: CliContext): void {
  addDeviceOptions(config.command('get [key]'))
    .description('print the board\'s config (all of it, a section, or one value)')
    .option('--level <n>', 'the config as levels 0..n make it (0 = firmware defaults, 9 = running)', intArg(0, 9))
    .addHelpText(
      'after',
      `
Examples:
  espfleet device config get --port /dev/ttyUSB0
  espfleet device config get mqtt --port /dev/ttyUSB0
  espfleet device config get mqtt.server --level 0 --port /dev/ttyUSB0`,
    )
    .action(async (key: string | undefined, opts: DeviceCliOptions & { level?: number }) => {
      const value = await withDevice(opts.port, deviceOptions(ctx, opts), (d) => d.configGet(key, opts.level));
      if (!opts.json && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) return ctx.out(String(value));
      ctx.json(value);
    });
}
