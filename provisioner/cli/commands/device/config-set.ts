// `espfleet device config set a.b=1 c=str`: mos config-set — keys and types checked against
// the board's config first, then Config.Set with save and reboot (spec mongoose-os.md §3.3).
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

interface Options extends DeviceCliOptions {
  save: boolean;
  reboot: boolean;
  tryOnce?: boolean;
  level?: number;
}

export function register(config: Command, ctx: CliContext): void {
  addDeviceOptions(config.command('set <key=value...>'))
    .description('change config values on the board, save them (conf9.json) and reboot it')
    .option('--no-save', 'apply to the running config only (lost at the next reboot)')
    .option('--no-reboot', 'save without rebooting (most settings take effect at the next boot)')
    .option('--try-once', 'save as conf9.json.try: used at the next boot only, then dropped')
    .option('--level <n>', 'write config level n (1..8 vendor layers; default 9, the user layer)', intArg(1, 9))
    .addHelpText(
      'after',
      `
Each key must exist in the board's config and each value must parse as the type the
board has there (string, number, true/false). Nothing is sent if any pair is wrong.

Examples:
  espfleet device config set mqtt.server=broker.example.net:8883 --port /dev/ttyUSB0
  espfleet device config set wifi.sta.enable=true wifi.sta.ssid=Shop wifi.sta.pass=secret --port /dev/ttyUSB0
  espfleet device config set debug.level=3 --no-reboot --port /dev/ttyUSB0`,
    )
    .action(async (pairs: string[], opts: Options) => {
      const r = await withDevice(opts.port, deviceOptions(ctx, opts), (d) =>
        d.configSet(pairs, { save: opts.save, reboot: opts.reboot, ...(opts.tryOnce ? { tryOnce: true } : {}), ...(opts.level === undefined ? {} : { level: opts.level }) }),
      );
      if (opts.json) return ctx.json({ port: opts.port, ...r });
      ctx.out(`set ${pairs.map((p) => p.split('=')[0]).join(', ')}; ${r.saved ? 'saved' : 'not saved'}${r.rebooted ? '; the board rebooted' : ''}`);
    });
}
