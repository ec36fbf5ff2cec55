// `espfleet fs cat`: a file's raw bytes from a LittleFS image, to stdout.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { openImageFile } from './image-file.ts';

export function register(fs: Command, ctx: CliContext): void {
  fs.command('cat <img> <path>')
    .description('write a file from a LittleFS image to stdout, byte for byte')
    .option('--json', 'print the file as JSON instead: path, size and the bytes in base64')
    .addHelpText(
      'after',
      `
Nothing is added or converted, so binary files (keys, certificates in DER) can
be redirected to a file.

Example:
  espfleet fs cat fs.img /conf9.json
  espfleet fs cat fs.img /device.key > device.key`,
    )
    .action((img: string, path: string, opts: { json?: boolean }) => {
      const data = openImageFile(ctx, img).readFile(path);
      if (opts.json) return ctx.json({ image: img, path, bytes: data.length, base64: Buffer.from(data).toString('base64') });
      ctx.stdout.write(data);
    });
}
