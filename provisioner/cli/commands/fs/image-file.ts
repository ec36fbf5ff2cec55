// Shared by the `espfleet fs` commands: open an image file, and write a changed one
// back atomically (temp file, fsync, rename) so a failed change leaves it as it was.
import { resolve } from 'node:path';
import { openLittlefs, type LittlefsImage } from '../../../../firmware-js/littlefs/index.ts';
import { readInputFile, writeFileDurable } from '../../../io/files.ts';
import type { CliContext } from '../../context.ts';

export function openImageFile(ctx: CliContext, path: string): LittlefsImage {
  return openLittlefs(readInputFile(resolve(ctx.cwd, path), 'LittleFS image'));
}

export function saveImageFile(ctx: CliContext, path: string, fs: LittlefsImage): void {
  writeFileDurable(resolve(ctx.cwd, path), fs.image());
}

export function usageLine(fs: LittlefsImage): string {
  const u = fs.usage();
  return `${u.usedBlocks} of ${u.blockCount} blocks used (${u.blockSize}-byte blocks, ${u.blockCount * u.blockSize} bytes)`;
}
