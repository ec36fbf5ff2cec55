// Building LittleFS images offline (spec mongoose-os.md §7: fs_0 is 256 KiB of
// 4096-byte blocks, disk format 2.0, name_max 255): format, whole-tree build, and
// per-device files written into a copy of a firmware's base image.
import { compactBlock } from './dir-commit.ts';
import { littlefsError } from './errors.ts';
import { LittlefsImage, type OpenOptions } from './littlefs-image.ts';
import { parsePath } from './paths.ts';
import { DISK_VERSION_2_0, encodeSuperblock, FILE_MAX_DEFAULT, ATTR_MAX_DEFAULT, MAGIC } from './superblock.ts';
import { BLOCK_NULL, TYPE } from './tags.ts';

export interface FormatOptions {
  /** Image size in bytes: a whole number of blocks, at least 2. */
  size: number;
  blockSize?: number;
  nameMax?: number;
}

export interface BuildOptions {
  size: number;
  blockSize?: number;
  files: ReadonlyArray<{ path: string; data: Uint8Array }>;
  /** Directories to create even when empty; parents of files are created anyway. */
  dirs?: readonly string[];
}

/** An empty filesystem, byte-identical to littlefs's lfs_format with the same geometry and 128-byte program size. */
export function formatLittlefs(opts: FormatOptions): Uint8Array {
  const blockSize = opts.blockSize ?? 4096;
  const nameMax = opts.nameMax ?? 255;
  if (!Number.isInteger(blockSize) || blockSize < 128 || blockSize % 128 !== 0) {
    throw littlefsError('bad_geometry', `block size ${blockSize} is not a multiple of 128 bytes`, 'use the ESP32 flash sector size, 4096');
  }
  if (!Number.isInteger(opts.size) || opts.size % blockSize !== 0 || opts.size / blockSize < 2) {
    throw littlefsError('bad_geometry', `image size ${opts.size} is not a whole number (≥ 2) of ${blockSize}-byte blocks`, 'fs_0 is 262144 bytes (64 blocks of 4096)');
  }
  if (!Number.isInteger(nameMax) || nameMax < 1 || nameMax > 1022) {
    throw littlefsError('bad_geometry', `name_max ${nameMax} is outside 1..1022`);
  }
  const blockCount = opts.size / blockSize;
  const image = new Uint8Array(opts.size).fill(0xff);
  const superblock = encodeSuperblock({ version: DISK_VERSION_2_0, blockSize, blockCount, nameMax, fileMax: FILE_MAX_DEFAULT, attrMax: ATTR_MAX_DEFAULT });
  const state = {
    entries: [{ type: TYPE.superblock, name: MAGIC, struct: { type: TYPE.inlineStruct, data: superblock }, attrs: new Map() }],
    tail: [BLOCK_NULL, BLOCK_NULL] as [number, number],
    split: false,
    gdelta: new Uint8Array(12),
  };
  // As lfs_format: the root pair is allocated as {1, 0}; its first commit compacts
  // into block 0 (revision 0 after the erased 0xffffffff) and a forced second
  // compaction writes block 1 (revision 1), so neither block holds stale data.
  const geo = { blockSize, blockCount };
  const commit = { progSize: Math.min(128, blockSize), fcrc: false };
  compactBlock(image, geo, commit, [1, 0], 0xffffffff, state);
  compactBlock(image, geo, commit, [0, 1], 0, state);
  return image;
}

export function buildLittlefs(opts: BuildOptions): Uint8Array {
  const image = formatLittlefs({ size: opts.size, ...(opts.blockSize === undefined ? {} : { blockSize: opts.blockSize }) });
  const fs = new LittlefsImage(image);
  for (const dir of opts.dirs ?? []) fs.mkdir(dir, { parents: true });
  const seen = new Set<string>();
  for (const file of opts.files) {
    const path = parsePath(file.path).display;
    if (seen.has(path)) throw littlefsError('exists', `${path} is listed twice in the files to build`, 'give each path once');
    seen.add(path);
    fs.writeFile(path, file.data, { parents: true });
  }
  return fs.image();
}

export function openLittlefs(image: Uint8Array, opts: OpenOptions = {}): LittlefsImage {
  return new LittlefsImage(image.slice(), opts);
}

/**
 * A copy of a firmware's base filesystem with per-device files (conf9.json,
 * device.crt, device.key, ca.pem …) written or replaced; other files stay as they are.
 */
export function composeDeviceFs(baseImage: Uint8Array, files: Record<string, Uint8Array>): Uint8Array {
  const fs = openLittlefs(baseImage);
  for (const [path, data] of Object.entries(files)) fs.writeFile(path, data, { parents: true });
  return fs.image();
}

