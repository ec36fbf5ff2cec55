// `espfleet fs ls`: the tree of a LittleFS image with file sizes.
import type { Command } from 'commander';
import type { LittlefsStat } from '../../../../firmware-js/littlefs/index.ts';
import type { CliContext } from '../../context.ts';
import { openImageFile, usageLine } from './image-file.ts';

interface Options {
  json?: boolean;
}

export function register(fs: Command, ctx: CliContext): void {
  fs.command('ls <img> [path]')
    .description('list the files and directories in a LittleFS image, with sizes')
    .option('--json', 'print the entries and block usage as JSON')
    .addHelpText(
      'after',
      `
Lists everything below [path] (default /), in the order littlefs stores it.
The block size is read from the image's superblock.

Examples:
  espfleet fs ls fs.img
  espfleet fs ls fs.img /certs --json`,
    )
    .action((img: string, path: string | undefined, opts: Options) => {
      const fs = openImageFile(ctx, img);
      const root = fs.stat(path ?? '/');
      const entries = root.type === 'file' ? [root] : below(fs.walk(), root.path);
      if (opts.json) return ctx.json({ image: img, version: versionText(fs.version), ...fs.usage(), entries: entries.map(({ path: p, type, size }) => ({ path: p, type, size })) });
      const prefix = root.path === '/' ? 0 : root.path.split('/').length - 1;
      const width = Math.max(0, ...entries.map((e) => 2 * (depth(e.path) - prefix) + e.name.length + (e.type === 'dir' ? 1 : 0)));
      for (const e of entries) {
        const label = `${'  '.repeat(depth(e.path) - prefix)}${e.name}${e.type === 'dir' ? '/' : ''}`;
        ctx.out(e.type === 'dir' ? label : `${label.padEnd(width)}  ${String(e.size).padStart(8)}`);
      }
      const files = entries.filter((e) => e.type === 'file');
      ctx.out(`${files.length} files, ${entries.length - files.length} directories, ${files.reduce((n, e) => n + e.size, 0)} bytes; ${usageLine(fs)}`);
    });
}

function below(all: LittlefsStat[], dir: string): LittlefsStat[] {
  return dir === '/' ? all : all.filter((e) => e.path.startsWith(`${dir}/`));
}

function depth(path: string): number {
  return path.split('/').length - 2;
}

function versionText(v: number): string {
  return `${v >>> 16}.${v & 0xffff}`;
}
