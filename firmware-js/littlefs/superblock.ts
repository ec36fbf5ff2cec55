// The superblock entry (littlefs SPEC.md "0x0ff LFS_TYPE_SUPERBLOCK"): id 0 of the
// root pair, name "littlefs" and an inline struct of six little-endian words.
import { corrupt, littlefsError } from './errors.ts';
import { le32Bytes, mkTag, readBe32, readLe32, tagChunk, tagDiskSize, tagId, tagSize, tagType2, tagType3, TYPE } from './tags.ts';

export const MAGIC = new TextEncoder().encode('littlefs');
/** Disk format 2.0, what littlefs 2.5 on the device writes (spec mongoose-os.md §7). */
export const DISK_VERSION_2_0 = 0x00020000;
export const NAME_MAX_DEFAULT = 255;
export const FILE_MAX_DEFAULT = 0x7fffffff;
export const ATTR_MAX_DEFAULT = 1022;

export interface Superblock {
  version: number;
  blockSize: number;
  blockCount: number;
  nameMax: number;
  fileMax: number;
  attrMax: number;
}

export function encodeSuperblock(sb: Superblock): Uint8Array {
  return le32Bytes(sb.version, sb.blockSize, sb.blockCount, sb.nameMax, sb.fileMax, sb.attrMax);
}

export function decodeSuperblock(data: Uint8Array): Superblock {
  if (data.length < 24) throw corrupt(`superblock struct is ${data.length} bytes, expected 24`);
  const w = (i: number) => readLe32(data, i * 4);
  return { version: w(0), blockSize: w(1), blockCount: w(2), nameMax: w(3), fileMax: w(4), attrMax: w(5) };
}

export function checkVersion(version: number): void {
  const major = version >>> 16;
  const minor = version & 0xffff;
  if (major !== 2 || minor > 1) {
    throw littlefsError(
      'unsupported_version',
      `LittleFS disk version ${major}.${minor} (0x${version.toString(16).padStart(8, '0')}) is not supported; this reader handles 2.0 and 2.1`,
      major === 1 ? 'littlefs v1 images need migrating with littlefs 2.x (lfs_migrate) first' : 'rebuild the image with littlefs 2.x',
    );
  }
}

function hasMagicAt(image: Uint8Array, at: number): boolean {
  if (at + 16 > image.length) return false;
  // Every compacted superblock block starts: revision, name tag (~0x0ff00008), "littlefs".
  const nameTag = (readBe32(image, at + 4) ^ 0xffffffff) >>> 0;
  if (nameTag !== mkTag(TYPE.superblock, 0, 8)) return false;
  return MAGIC.every((b, i) => image[at + 8 + i] === b);
}

/**
 * Block sizes the superblock(s) claim, newest first, without knowing the block size:
 * the tags of block 0 are walked up to the first unwritten one (bounded by `limit`).
 */
function claimedBlockSizes(image: Uint8Array, at: number, limit: number): number[] {
  const found: number[] = [];
  let ptag = 0xffffffff;
  for (let off = at + 4; off + 4 <= Math.min(image.length, at + limit); ) {
    const tag = (readBe32(image, off) ^ ptag) >>> 0;
    if (tag & 0x80000000) break;
    if (tagType3(tag) === TYPE.inlineStruct && tagId(tag) === 0 && tagSize(tag) === 24) found.unshift(readLe32(image, off + 8));
    ptag = tagType2(tag) === TYPE.crc ? (tag ^ ((tagChunk(tag) & 1) << 31)) >>> 0 : tag;
    off += tagDiskSize(tag);
  }
  return found;
}

/**
 * Candidate block sizes, most likely first: what block 0's superblock entries say,
 * then power-of-two offsets where block 1 starts with a superblock claiming that size.
 */
export function detectBlockSizes(image: Uint8Array): number[] {
  const candidates: number[] = [];
  if (hasMagicAt(image, 0)) candidates.push(...claimedBlockSizes(image, 0, 1 << 20));
  for (let bs = 128; bs * 2 <= image.length && bs <= 1 << 20; bs *= 2) {
    if (hasMagicAt(image, bs) && claimedBlockSizes(image, bs, bs).includes(bs)) candidates.push(bs);
  }
  const plausible = [...new Set(candidates)].filter((bs) => bs >= 128 && bs * 2 <= image.length);
  if (plausible.length === 0) throw notLittlefs(image.length);
  return plausible;
}

export function notLittlefs(length: number, detail = 'no "littlefs" superblock in block 0 or 1'): Error {
  return littlefsError(
    'not_littlefs',
    `not a LittleFS image (${length} bytes): ${detail}`,
    'check the partition (fs_0 at 0x190000, 256 KiB) or the file; SPIFFS images (pre-2022 Mongoose OS builds) are not LittleFS',
  );
}
