// littlefs metadata tags and checksums (littlefs SPEC.md "Metadata tags"): 32-bit
// big-endian tags [valid:1 | type:11 | id:10 | size:10], XOR-chained, CRC-32 commits.
import { crc32 } from '../crc.ts';

export const TYPE = {
  name: 0x000,
  reg: 0x001,
  dir: 0x002,
  superblock: 0x0ff,
  struct: 0x200,
  dirStruct: 0x200,
  inlineStruct: 0x201,
  ctzStruct: 0x202,
  userAttr: 0x300,
  splice: 0x400,
  create: 0x401,
  delete: 0x4ff,
  crc: 0x500,
  fcrc: 0x5ff,
  tail: 0x600,
  softTail: 0x600,
  hardTail: 0x601,
  gstate: 0x700,
  moveState: 0x7ff,
} as const;

/** Id of tags that belong to the pair rather than to a file (tails, gstate, CRCs). */
export const NO_ID = 0x3ff;
/** Size value that marks a tag as deleted ("this attribute is gone"). */
export const DELETED_SIZE = 0x3ff;
export const BLOCK_NULL = 0xffffffff;

export function mkTag(type: number, id: number, size: number): number {
  return ((type << 20) | (id << 10) | size) >>> 0;
}

export const tagType3 = (tag: number): number => (tag >>> 20) & 0x7ff;
/** The 3-bit abstract type, kept in place (0x000, 0x100 … 0x700) like lfs_tag_type1. */
export const tagType1 = (tag: number): number => (tag >>> 20) & 0x700;
export const tagType2 = (tag: number): number => (tag >>> 20) & 0x780;
export const tagChunk = (tag: number): number => (tag >>> 20) & 0xff;
export const tagId = (tag: number): number => (tag >>> 10) & 0x3ff;
export const tagSize = (tag: number): number => tag & 0x3ff;
export const tagIsValid = (tag: number): boolean => (tag & 0x80000000) === 0;
export const tagIsDelete = (tag: number): boolean => (tag & 0x3ff) === DELETED_SIZE;

/** Bytes a tag occupies on disk: the tag word plus its data (none for a deleted tag). */
export function tagDiskSize(tag: number): number {
  return 4 + (tagIsDelete(tag) ? 0 : tagSize(tag));
}

/**
 * littlefs's CRC-32 (reflected 0x04c11db7) continued from `crc` with no final
 * inversion: a commit's CRC starts at 0xffffffff and is stored as-is.
 */
export function lfsCrc(crc: number, bytes: Uint8Array): number {
  // zlib-style crc32 inverts its seed and result; undo both to get the raw register.
  return ~crc32(bytes, ~crc >>> 0) >>> 0;
}

/** Sequence comparison of revision counts, safe across 32-bit overflow (lfs_scmp). */
export function revisionNewer(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export type Pair = readonly [number, number];

export function pairIsNull(p: Pair): boolean {
  return p[0] === BLOCK_NULL || p[1] === BLOCK_NULL;
}

/** littlefs treats two pairs as the same when they share any block (lfs_pair_cmp). */
export function pairSame(a: Pair, b: Pair): boolean {
  return a[0] === b[0] || a[0] === b[1] || a[1] === b[0] || a[1] === b[1];
}

export function readLe32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0;
}

export function writeLe32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

export function readBe32(bytes: Uint8Array, at: number): number {
  return (((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0)) >>> 0;
}

export function writeBe32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = (value >>> 24) & 0xff;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

export function le32Bytes(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => writeLe32(out, i * 4, v >>> 0));
  return out;
}
