// `espfleet device fs get`: copy a file off the board (FS.Get in frame-sized chunks, like mos get).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { withDevice } from '../../../field/device.ts';
import { writeFileDurable } from '../../../io/files.ts';
import type { CliContext } from '../../context.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';
import { addProgressOptions, progressFor, type ProgressCliOptions } from '../../progress.ts';

export function register(fs: Command, ctx: CliContext): void {
  addProgressOptions(addDeviceOptions(fs.command('get <remote> [local]')))
    .description('copy a file from the board to a local file (or to stdout)')
    .addHelpText(
      'after',
      `
Examples:
  espfleet device fs get conf9.json --port /dev/ttyUSB0
  espfleet device fs get device.crt ./board-7.crt --port /dev/ttyUSB0`,
    )
    .action(async (remote: string, local: string | undefined, opts: DeviceCliOptions & ProgressCliOptions) => {
      const progress = progressFor(ctx, opts);
      let data: Uint8Array;
      try {
        data = await withDevice(opts.port, deviceOptions(ctx, opts), (d) => {
          progress.phase(`get ${remote}`);
          return d.fsGet(remote, (p) => progress.update(p.done, p.total));
        });
      } finally {
        progress.done();
      }
      if (!local) {
        // With --json the bytes go into the JSON (base64); stdout holds one result either way.
        if (opts.json) return ctx.json({ remote, local: null, bytes: data.length, base64: Buffer.from(data).toString('base64') });
        return void ctx.stdout.write(data);
      }
      writeFileDurable(resolve(ctx.cwd, local), data);
      if (opts.json) return ctx.json({ remote, local, bytes: data.length });
      progress.note(`copied ${remote} (${data.length} bytes) to ${local}`);
    });
}
