// `espfleet device info`: who the Mongoose OS board is (Sys.GetInfo, spec mongoose-os.md §3.3).
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(device: Command, ctx: CliContext): void {
  addDeviceOptions(device.command('info'))
    .description('show the running board: device id, app, version, MAC, Mongoose OS version, filesystem')
    .addHelpText(
      'after',
      `
Asks the firmware over its RPC UART (Sys.GetInfo); the board is not reset.

Examples:
  espfleet device info --port /dev/ttyUSB0
  espfleet device info --port rfc2217://127.0.0.1:4000 --json`,
    )
    .action(async (opts: DeviceCliOptions) => {
      const info = await withDevice(opts.port, deviceOptions(ctx, opts), (d) => d.info());
      if (opts.json) return ctx.json({ port: opts.port, ...info.raw });
      const mac = info.mac.replace(/(..)(?!$)/g, '$1:');
      const rows: Array<[string, string]> = [
        ['id', info.id],
        ['app', `${info.app} ${info.fwVersion} (${info.fwId})`],
        ['version', info.fwVersion],
        ['mac', mac],
        ['mongoose os', info.mgVersion],
        ['arch', info.arch],
        ['uptime', `${info.uptime} s`],
        ['filesystem', `${info.fsFree} of ${info.fsSize} bytes free`],
      ];
      for (const [label, value] of rows) ctx.out(`${`${label}:`.padEnd(14)}${value}`);
    });
}
