// `espfleet fs put`: add or replace one file in a LittleFS image, in place, the way
// littlefs itself appends a commit (the board can keep writing to the result).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { readInputFile } from '../../../io/files.ts';
import type { CliContext } from '../../context.ts';
import { openImageFile, saveImageFile, usageLine } from './image-file.ts';

export function register(fs: Command, ctx: CliContext): void {
  fs.command('put <img> <local-file> <path>')
    .description('add or replace a file in a LittleFS image (missing parent directories are created)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The other files are left as they are. The image file is replaced atomically:
if the change fails (for example the image is full) it is not modified.

Example:
  espfleet fs put fs.img conf9.json /conf9.json`,
    )
    .action((img: string, localFile: string, path: string, opts: { json?: boolean }) => {
      const data = readInputFile(resolve(ctx.cwd, localFile), 'file to put');
      const fs = openImageFile(ctx, img);
      const existed = fs.exists(path);
      fs.writeFile(path, data, { parents: true });
      saveImageFile(ctx, img, fs);
      if (opts.json) return ctx.json({ image: img, path: fs.stat(path).path, bytes: data.length, replaced: existed, ...fs.usage() });
      ctx.out(`${existed ? 'replaced' : 'added'} ${fs.stat(path).path} (${data.length} bytes) in ${img}; ${usageLine(fs)}`);
    });
}
