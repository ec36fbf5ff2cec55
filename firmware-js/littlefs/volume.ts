// A mounted LittleFS image (littlefs SPEC.md "0x0ff LFS_TYPE_SUPERBLOCK", "0x6xx
// LFS_TYPE_TAIL", "0x7ff LFS_TYPE_MOVESTATE"): the superblock, the threaded list of
// every metadata pair, directory chains, the global state and the blocks in use.
import { corrupt, littlefsError } from './errors.ts';
import { ctzBlocks } from './ctz.ts';
import { blockBytes, fetchPair, type Entry, type Geometry, type MetadataPair } from './metadata-pair.ts';
import { MAGIC, checkVersion, decodeSuperblock, detectBlockSizes, notLittlefs, type Superblock } from './superblock.ts';
import { TYPE, pairIsNull, pairSame, readLe32, tagId, tagType1, type Pair } from './tags.ts';

export interface GlobalState {
  tag: number;
  pair: [number, number];
}

/** A live entry of a directory, located in its metadata pair. */
export interface Located {
  dir: MetadataPair;
  id: number;
  entry: Entry;
}

export interface VolumeOptions {
  blockSize?: number;
  /** Program unit for commits we write; the device uses 128, mklfs 64. */
  progSize?: number;
}

export class Volume {
  readonly geo: Geometry;
  readonly progSize: number;
  superblock: Superblock;
  root: [number, number] = [0, 1];

  private constructor(
    public image: Uint8Array,
    geo: Geometry,
    superblock: Superblock,
    progSize: number,
  ) {
    this.geo = geo;
    this.superblock = superblock;
    this.progSize = progSize;
  }

  static mount(image: Uint8Array, opts: VolumeOptions = {}): Volume {
    if (opts.blockSize !== undefined) return Volume.mountWith(image, opts.blockSize, opts.progSize);
    // Try each block size the superblock suggests; report the first failure if none mounts.
    let first: unknown;
    for (const blockSize of detectBlockSizes(image)) {
      try {
        return Volume.mountWith(image, blockSize, opts.progSize);
      } catch (e) {
        first ??= e;
      }
    }
    throw first;
  }

  private static mountWith(image: Uint8Array, blockSize: number, progSizeOpt: number | undefined): Volume {
    if (!Number.isInteger(blockSize) || blockSize < 128 || blockSize * 2 > image.length) {
      throw notLittlefs(image.length, `block size ${blockSize} does not fit two blocks in the image`);
    }
    const magicAt = (at: number) => MAGIC.every((b, i) => image[at + 8 + i] === b);
    if (!magicAt(0) && !magicAt(blockSize)) throw notLittlefs(image.length);
    const progSize = progSizeOpt ?? 128;
    // Until the superblock is read, trust only the two blocks we know exist.
    const provisional: Geometry = { blockSize, blockCount: Math.floor(image.length / blockSize) };
    const sb = superblockOf(fetchPair(image, provisional, [0, 1], progSize));
    if (!sb) throw notLittlefs(image.length, 'blocks 0 and 1 hold metadata but no superblock entry');
    checkVersion(sb.version);
    if (sb.blockSize !== blockSize) {
      throw littlefsError('bad_geometry', `superblock says block size ${sb.blockSize}, but ${blockSize} was given`, `open it with blockSize ${sb.blockSize}`);
    }
    if (sb.blockCount < 2 || sb.blockCount * blockSize > image.length) {
      throw corrupt(`superblock says ${sb.blockCount} blocks of ${blockSize} bytes (${sb.blockCount * blockSize} bytes), the image has ${image.length} bytes`);
    }
    const mounted = new Volume(image, { blockSize, blockCount: sb.blockCount }, sb, progSize);
    // The root is the last pair on the threaded list that carries a superblock entry.
    for (const dir of mounted.threadedPairs()) {
      const found = superblockOf(dir);
      if (found) {
        checkVersion(found.version);
        mounted.superblock = found;
        mounted.root = [...dir.pair];
      }
    }
    return mounted;
  }

  /** Parsed pairs and gstate, valid until the image changes (see invalidate). */
  private cache = new Map<string, MetadataPair>();
  private gstateCache: GlobalState | undefined;

  fetch(pair: Pair): MetadataPair {
    const key = pair[0] < pair[1] ? `${pair[0]},${pair[1]}` : `${pair[1]},${pair[0]}`;
    let dir = this.cache.get(key);
    if (!dir) {
      dir = fetchPair(this.image, this.geo, pair, this.progSize);
      this.cache.set(key, dir);
    }
    return dir;
  }

  /** Must be called whenever the image bytes change. */
  invalidate(): void {
    this.cache.clear();
    this.gstateCache = undefined;
  }

  /** Original bytes of each block a change has written, so a failed change can be undone. */
  private journal: Map<number, Uint8Array> | undefined;

  beginChange(): void {
    this.journal = new Map();
  }

  /** Call before writing a block: keeps its bytes from before the change began. */
  willWrite(block: number): void {
    if (this.journal && !this.journal.has(block)) this.journal.set(block, blockBytes(this.image, this.geo, block).slice());
  }

  endChange(): void {
    this.journal = undefined;
  }

  /** Puts back every block the current change wrote. */
  rollback(): void {
    for (const [block, bytes] of this.journal ?? []) blockBytes(this.image, this.geo, block).set(bytes);
    this.journal = undefined;
    this.invalidate();
  }

  /** Every metadata pair on the tail list from {0, 1}; a cycle or overlong list is corruption. */
  *threadedPairs(): Generator<MetadataPair> {
    let next: Pair = [0, 1];
    const seen = new Set<number>();
    for (let steps = 0; !pairIsNull(next); steps++) {
      if (steps > this.geo.blockCount || seen.has(next[0]) || seen.has(next[1])) {
        throw corrupt(`the metadata tail list loops or exceeds the ${this.geo.blockCount} blocks (at pair {${next[0]}, ${next[1]}})`);
      }
      seen.add(next[0]);
      seen.add(next[1]);
      const dir = this.fetch(next);
      yield dir;
      next = dir.tail;
    }
  }

  /** The pairs of one directory, following hard tails (split pairs). */
  *dirChain(head: Pair): Generator<MetadataPair> {
    let next: Pair = head;
    for (let steps = 0; ; steps++) {
      if (steps > this.geo.blockCount) throw corrupt(`directory at {${head[0]}, ${head[1]}} chains through more pairs than the image has blocks`);
      const dir = this.fetch(next);
      yield dir;
      if (!dir.split) return;
      if (pairIsNull(dir.tail)) throw corrupt(`directory pair {${dir.pair[0]}, ${dir.pair[1]}} is split but has no tail`);
      next = dir.tail;
    }
  }

  globalState(): GlobalState {
    this.gstateCache ??= this.computeGlobalState();
    return this.gstateCache;
  }

  private computeGlobalState(): GlobalState {
    let tag = 0;
    let p0 = 0;
    let p1 = 0;
    for (const dir of this.threadedPairs()) {
      tag ^= readLe32(dir.gdelta, 0);
      p0 ^= readLe32(dir.gdelta, 4);
      p1 ^= readLe32(dir.gdelta, 8);
    }
    return { tag: tag >>> 0, pair: [p0 >>> 0, p1 >>> 0] };
  }

  /** The id a pending move hides in `dir` (its source copy), if any. */
  hiddenId(dir: MetadataPair, gstate: GlobalState): number | undefined {
    return tagType1(gstate.tag) !== 0 && pairSame(gstate.pair, dir.pair) ? tagId(gstate.tag) : undefined;
  }

  /** Live file and directory entries of a directory, in littlefs order. */
  *entriesOf(head: Pair, gstate: GlobalState): Generator<Located> {
    for (const dir of this.dirChain(head)) {
      const hidden = this.hiddenId(dir, gstate);
      for (let id = 0; id < dir.entries.length; id++) {
        const entry = dir.entries[id] as Entry;
        if (id === hidden || !isFileOrDir(entry)) continue;
        yield { dir, id, entry };
      }
    }
  }

  /** Blocks in use: both blocks of every pair and every block of every CTZ file. */
  usedBlocks(): Uint8Array {
    const used = new Uint8Array(this.geo.blockCount);
    const mark = (b: number) => {
      if (b < used.length) used[b] = 1;
    };
    for (const dir of this.threadedPairs()) {
      mark(dir.pair[0]);
      mark(dir.pair[1]);
      for (const entry of dir.entries) {
        const s = entry.struct;
        if (!s || s.data.length < 8) continue;
        if (s.type === TYPE.ctzStruct) {
          for (const b of ctzBlocks(this.image, this.geo, readLe32(s.data, 0), readLe32(s.data, 4), '(traversal)')) mark(b);
        } else if (s.type === TYPE.dirStruct) {
          mark(readLe32(s.data, 0));
          mark(readLe32(s.data, 4));
        }
      }
    }
    return used;
  }
}

export function isFileOrDir(entry: Entry): boolean {
  return entry.type === TYPE.reg || entry.type === TYPE.dir;
}

function superblockOf(dir: MetadataPair): Superblock | undefined {
  const e = dir.entries[0];
  if (!e || e.type !== TYPE.superblock || e.name.length !== 8 || !MAGIC.every((b, i) => e.name[i] === b)) return undefined;
  if (!e.struct || e.struct.type !== TYPE.inlineStruct) throw corrupt('superblock entry has no inline struct');
  return decodeSuperblock(e.struct.data);
}

/** littlefs's name order (lfs_dir_find_match): bytes first, then the longer name sorts first. */
export function compareNames(disk: Uint8Array, name: Uint8Array): number {
  const n = Math.min(disk.length, name.length);
  for (let i = 0; i < n; i++) {
    const d = (disk[i] as number) - (name[i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  if (disk.length === name.length) return 0;
  return name.length < disk.length ? -1 : 1;
}
