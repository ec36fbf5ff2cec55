// File data as a CTZ skip-list (littlefs SPEC.md "0x202 LFS_TYPE_CTZSTRUCT",
// DESIGN.md "CTZ skip-lists"): block n stores ctz(n)+1 pointers to blocks n - 2^k
// ahead of its data; the struct holds the last block and the file size.
import { corrupt } from './errors.ts';
import { blockBytes, type Geometry } from './metadata-pair.ts';
import { readLe32, writeLe32 } from './tags.ts';

function ctz(n: number): number {
  return 31 - Math.clz32(n & -n);
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v &= v - 1) c++;
  return c;
}

/** Pointer words at the start of list block `index` (none in block 0). */
export function pointerCount(index: number): number {
  return index === 0 ? 0 : ctz(index) + 1;
}

/** Index of the block that holds byte `pos` of a file (lfs_ctz_index). */
export function ctzIndex(blockSize: number, pos: number): number {
  const b = blockSize - 8;
  const i = Math.floor(pos / b);
  if (i === 0) return 0;
  return Math.floor((pos - 4 * (popcount(i - 1) + 2)) / b);
}

/** The blocks of a CTZ file from first to last. Bounded by the file size, checked against the image. */
export function ctzBlocks(image: Uint8Array, geo: Geometry, head: number, size: number, path: string): number[] {
  if (size === 0) return [];
  if (size > geo.blockCount * geo.blockSize) {
    throw corrupt(`file ${path} claims ${size} bytes, more than the ${geo.blockCount * geo.blockSize}-byte filesystem`);
  }
  const last = ctzIndex(geo.blockSize, size - 1);
  if (last >= geo.blockCount) throw corrupt(`file ${path} needs ${last + 1} blocks, the image has ${geo.blockCount}`);
  const blocks = new Array<number>(last + 1);
  let block = head;
  for (let index = last; index >= 0; index--) {
    if (block >= geo.blockCount) throw corrupt(`file ${path} points at block ${block}, past the ${geo.blockCount} blocks of the image`);
    blocks[index] = block;
    if (index > 0) block = readLe32(blockBytes(image, geo, block), 0);
  }
  return blocks;
}

export function readCtz(image: Uint8Array, geo: Geometry, head: number, size: number, path: string): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  ctzBlocks(image, geo, head, size, path).forEach((block, index) => {
    const start = 4 * pointerCount(index);
    const take = Math.min(geo.blockSize - start, size - at);
    out.set(blockBytes(image, geo, block).subarray(start, start + take), at);
    at += take;
  });
  return out;
}

/** Blocks a file of `size` bytes occupies as a CTZ list. */
export function ctzBlockCount(blockSize: number, size: number): number {
  return size === 0 ? 0 : ctzIndex(blockSize, size - 1) + 1;
}

/**
 * Writes `data` as a fresh CTZ list into blocks taken from `alloc` (each erased
 * first) and returns the head block. Written front to back as littlefs appends.
 */
export function writeCtz(image: Uint8Array, geo: Geometry, data: Uint8Array, alloc: () => number): number {
  const blocks: number[] = [];
  let at = 0;
  for (let index = 0; at < data.length; index++) {
    const block = alloc();
    const bytes = blockBytes(image, geo, block);
    bytes.fill(0xff);
    const pointers = pointerCount(index);
    for (let k = 0; k < pointers; k++) writeLe32(bytes, 4 * k, blocks[index - (1 << k)] as number);
    const take = Math.min(geo.blockSize - 4 * pointers, data.length - at);
    bytes.set(data.subarray(at, at + take), 4 * pointers);
    at += take;
    blocks.push(block);
  }
  return blocks[blocks.length - 1] as number;
}
