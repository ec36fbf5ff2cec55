// `espfleet device info`: who the Mongoose OS board is (Sys.GetInfo, spec mongoose-os.md §3.3).
import type { Command } from 'commander';
import { identifyBoard } from '../../../field/identify.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

export function register(device: Command, ctx: CliContext): void {
  addDeviceOptions(device.command('info'))
    .description('show the running board: device id, app, version, MAC, Mongoose OS version, filesystem')
    .addHelpText(
      'after',
      `
Asks the firmware over its RPC UART (Sys.GetInfo); the board is not reset. If nothing
answers RPC but the board sits in its ROM loader (download mode), the ROM's facts are
shown instead, and "mode" says which one was found (--no-rom to skip that check).

Examples:
  espfleet device info --port /dev/ttyUSB0
  espfleet device info --port rfc2217://127.0.0.1:4000 --json`,
    )
    .option('--no-rom', 'do not look for the ROM loader when Mongoose OS does not answer')
    .action(async (opts: DeviceCliOptions & { rom: boolean }) => {
      const found = await identifyBoard(opts.port, { ...deviceOptions(ctx, opts), romFallback: opts.rom });
      if (found.mode === 'download') {
        const f = found.facts;
        if (opts.json) return ctx.json({ port: opts.port, mode: 'download', ...f });
        ctx.out(`${'mode:'.padEnd(14)}download (ROM loader; no firmware running)`);
        ctx.out(`${'chip:'.padEnd(14)}${f.package} (revision v${f.revision.major}.${f.revision.minor})`);
        ctx.out(`${'mac:'.padEnd(14)}${f.mac.toUpperCase()}`);
        ctx.out(`${'encryption:'.padEnd(14)}${f.efuse.encryptionEnabled ? 'ON' : 'off'}`);
        return;
      }
      const info = found.info;
      if (opts.json) return ctx.json({ port: opts.port, mode: 'mongoose-os', ...info.raw });
      const mac = info.mac.replace(/(..)(?!$)/g, '$1:');
      const rows: Array<[string, string]> = [
        ['mode', 'Mongoose OS (RPC over UART)'],
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
