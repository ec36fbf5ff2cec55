// `espfleet fs rm`: remove a file or an empty directory from a LittleFS image in place.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { openImageFile, saveImageFile, usageLine } from './image-file.ts';

export function register(fs: Command, ctx: CliContext): void {
  fs.command('rm <img> <path>')
    .description('remove a file or an empty directory from a LittleFS image')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Directories must be empty. The image file is replaced atomically, so a failed
removal leaves it unchanged.

Example:
  espfleet fs rm fs.img /old-cert.pem`,
    )
    .action((img: string, path: string, opts: { json?: boolean }) => {
      const fs = openImageFile(ctx, img);
      const what = fs.stat(path);
      fs.remove(path);
      saveImageFile(ctx, img, fs);
      if (opts.json) return ctx.json({ image: img, removed: what.path, type: what.type, ...fs.usage() });
      ctx.out(`removed ${what.type === 'dir' ? 'directory' : 'file'} ${what.path} from ${img}; ${usageLine(fs)}`);
    });
}
