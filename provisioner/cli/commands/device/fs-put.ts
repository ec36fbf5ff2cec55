// `espfleet device fs put`: copy a file onto the board (FS.Put in chunks that fit the frame
// limit, first at offset 0, then appended by offset, like mos put; spec mongoose-os.md §3.3).
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import { readInputFile } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';
import { addProgressOptions, progressFor, type ProgressCliOptions } from '../../progress.ts';

export function register(fs: Command, ctx: CliContext): void {
  addProgressOptions(addDeviceOptions(fs.command('put <local> [remote]')))
    .description('copy a local file onto the board (remote name defaults to the file\'s base name)')
    .option('--chunk-size <bytes>', 'raw bytes per FS.Put call (default: the most that fits a 4 KiB frame)', intArg(1, 4096))
    .addHelpText(
      'after',
      `
Each chunk is retried if its reply is lost or garbled; the file's size on the board is
checked at the end.

Examples:
  espfleet device fs put app.js --port /dev/ttyUSB0
  espfleet device fs put ./new-ca.pem ca.pem --port /dev/ttyUSB0`,
    )
    .action(async (local: string, remote: string | undefined, opts: DeviceCliOptions & ProgressCliOptions & { chunkSize?: number }) => {
      const data = readInputFile(resolve(ctx.cwd, local), 'file to put');
      const name = remote ?? basename(local);
      const progress = progressFor(ctx, opts);
      let r: { bytes: number; chunks: number };
      try {
        r = await withDevice(opts.port, deviceOptions(ctx, opts), (d) => {
          progress.phase(`put ${name}`, data.length);
          return d.fsPut(name, data, {
            ...(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize }),
            onProgress: (p) => progress.update(p.done, p.total),
          });
        });
      } finally {
        progress.done();
      }
      if (opts.json) return ctx.json({ local, remote: name, ...r });
      ctx.out(`put ${name}: ${r.bytes} bytes in ${r.chunks} chunks`);
    });
}
