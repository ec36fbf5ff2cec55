// `espfleet device call`: any RPC method with raw JSON params, like `mos call`.
import type { Command } from 'commander';
import { FieldError } from '../../../field/errors.ts';
import { withDevice } from '../../../field/device.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(device: Command, ctx: CliContext): void {
  addDeviceOptions(device.command('call <method> [params]'))
    .description('call an RPC method on the board and print its result (params as JSON)')
    .addHelpText(
      'after',
      `
Examples:
  espfleet device call RPC.List --port /dev/ttyUSB0
  espfleet device call FS.ListExt '{"path":"/"}' --port /dev/ttyUSB0
  espfleet device call Config.Get '{"key":"mqtt"}' --port sim://board1`,
    )
    .action(async (method: string, paramsText: string | undefined, opts: DeviceCliOptions) => {
      let params: unknown;
      if (paramsText !== undefined) {
        try {
          params = JSON.parse(paramsText);
        } catch {
          throw new FieldError('field.call.bad_params', `params ${JSON.stringify(paramsText)} are not JSON`, { hint: `quote them for the shell: '{"key":"mqtt"}'` });
        }
      }
      const result = await withDevice(opts.port, deviceOptions(ctx, opts), (d) => d.call(method, params));
      ctx.json(result);
    });
}
