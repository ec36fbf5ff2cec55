// `espfleet fs build`: a LittleFS image from a directory, as `mklfs` builds fs.img
// for a Mongoose OS firmware (spec mongoose-os.md §7: 256 KiB, 4096-byte blocks).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildLittlefs, openLittlefs } from '../../../../firmware-js/littlefs/index.ts';
import { readDirectoryTree, writeFileDurable } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { usageLine } from './image-file.ts';

interface Options {
  size: number;
  blockSize: number;
  out: string;
  json?: boolean;
}

export function register(fs: Command, ctx: CliContext): void {
  fs.command('build <dir>')
    .description('build a LittleFS image from the files and directories under <dir>')
    .requiredOption('--size <bytes>', 'image size, a whole number of blocks (fs_0 is 256k)', intArg(256, 0x1000000))
    .option('--block-size <bytes>', 'LittleFS block size (the ESP32 flash sector is 4096)', intArg(128, 0x100000), 4096)
    .requiredOption('--out <img>', 'image file to write')
    .option('--json', 'print what was built as JSON')
    .addHelpText(
      'after',
      `
The image is LittleFS disk format 2.0, as littlefs 2.5 on the device and mos's
mklfs write it; name_max is 255. Empty directories are kept. Files of up to 128
bytes are stored inline in the metadata, larger ones in their own blocks, so a
256 KiB image holds at most ~60 files larger than 128 bytes.

Example:
  espfleet fs build --size 256k --out fs.img agent/fs`,
    )
    .action((dir: string, opts: Options) => {
      const tree = readDirectoryTree(resolve(ctx.cwd, dir));
      const image = buildLittlefs({ size: opts.size, blockSize: opts.blockSize, files: tree.files, dirs: tree.dirs });
      writeFileDurable(resolve(ctx.cwd, opts.out), image);
      const fs = openLittlefs(image);
      const bytes = tree.files.reduce((n, f) => n + f.data.length, 0);
      if (opts.json) return ctx.json({ out: opts.out, files: tree.files.length, dirs: tree.dirs.length, bytes, ...fs.usage() });
      ctx.out(`wrote ${opts.out}: ${tree.files.length} files (${bytes} bytes), ${tree.dirs.length} directories`);
      ctx.out(usageLine(fs));
    });
}
