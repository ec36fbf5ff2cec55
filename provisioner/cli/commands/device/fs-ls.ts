// `espfleet device fs ls`: the files on the board's root filesystem with sizes (FS.ListExt).
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(fs: Command, ctx: CliContext): void {
  addDeviceOptions(fs.command('ls [path]'))
    .description('list the files on the board (default /)')
    .addHelpText(
      'after',
      `
Examples:
  espfleet device fs ls --port /dev/ttyUSB0
  espfleet device fs ls --port sim://board1 --json`,
    )
    .action(async (path: string | undefined, opts: DeviceCliOptions) => {
      const entries = await withDevice(opts.port, deviceOptions(ctx, opts), (d) => d.fsList(path ?? '/'));
      if (opts.json) return ctx.json(entries);
      for (const line of renderTable(['NAME', 'SIZE'], entries.map((e) => [e.name, String(e.size)]))) ctx.out(line);
      ctx.out(`${entries.length} files, ${entries.reduce((n, e) => n + e.size, 0)} bytes`);
    });
}
