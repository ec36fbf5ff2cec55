// Reads one metadata pair (littlefs SPEC.md "Directories / Metadata pairs"): picks
// the block with the newer revision, replays its CRC-valid commits and yields the
// entries, tail and gstate delta as the last good commit left them.
import { corrupt } from './errors.ts';
import {
  BLOCK_NULL,
  DELETED_SIZE,
  NO_ID,
  TYPE,
  lfsCrc,
  readBe32,
  readLe32,
  revisionNewer,
  tagChunk,
  tagDiskSize,
  tagId,
  tagIsDelete,
  tagIsValid,
  tagSize,
  tagType1,
  tagType2,
  tagType3,
  type Pair,
} from './tags.ts';

export interface Geometry {
  blockSize: number;
  blockCount: number;
}

/** One id in a pair: its name tag, its struct and any user attributes. */
export interface Entry {
  /** 0x001 file, 0x002 directory, 0x0ff superblock; undefined until a name tag arrives. */
  type: number | undefined;
  name: Uint8Array;
  /** Struct tag type (0x200 dir, 0x201 inline, 0x202 ctz) and its data. */
  struct: { type: number; data: Uint8Array } | undefined;
  attrs: Map<number, Uint8Array>;
}

export interface MetadataPair {
  /** pair[0] is the block holding the newest commits, pair[1] the older one. */
  pair: [number, number];
  rev: number;
  /** Offset just past the last valid commit in pair[0]. */
  off: number;
  /** The XOR chain value after the last commit (the next tag is stored XORed with it). */
  etag: number;
  entries: Entry[];
  tail: [number, number];
  split: boolean;
  /** This pair's share of the global state: 12 bytes, zero when it holds none. */
  gdelta: Uint8Array;
  /** True when littlefs would append to pair[0] rather than compact it. */
  erased: boolean;
}

type Op = { tag: number; data: Uint8Array };

export function blockBytes(image: Uint8Array, geo: Geometry, block: number): Uint8Array {
  return image.subarray(block * geo.blockSize, (block + 1) * geo.blockSize);
}

/** Fetches a pair; throws corrupt when neither block holds a valid commit. */
export function fetchPair(image: Uint8Array, geo: Geometry, pair: Pair, progSize: number): MetadataPair {
  if (pair[0] >= geo.blockCount || pair[1] >= geo.blockCount) {
    throw corrupt(`metadata pair {${pair[0]}, ${pair[1]}} points past the ${geo.blockCount} blocks of the image`);
  }
  const revs = [readLe32(blockBytes(image, geo, pair[0]), 0), readLe32(blockBytes(image, geo, pair[1]), 0)] as const;
  const first = revisionNewer(revs[1], revs[0]) ? 1 : 0;
  for (const which of [first, 1 - first]) {
    const active = pair[which] as number;
    const other = pair[1 - which] as number;
    const parsed = replayBlock(blockBytes(image, geo, active), progSize);
    if (parsed) return { pair: [active, other], rev: revs[which] as number, ...parsed };
  }
  throw corrupt(`metadata pair {${pair[0]}, ${pair[1]}} has no valid commit in either block`);
}

type Replayed = Omit<MetadataPair, 'pair' | 'rev'>;

/** Replays the commits of one block; undefined when not even one commit is valid. */
function replayBlock(block: Uint8Array, progSize: number): Replayed | undefined {
  const size = block.length;
  const state = { entries: [] as Entry[], tail: [BLOCK_NULL, BLOCK_NULL] as [number, number], split: false, gdelta: new Uint8Array(12) };
  let found: Replayed | undefined;
  let pending: Op[] = [];
  let crc = lfsCrc(0xffffffff, block.subarray(0, 4));
  let ptag = 0xffffffff;
  let off = 4;
  let maybeErased = false;
  // Every tag advances `off` by at least 4 bytes, so this loop ends within size/4 steps.
  while (off + 4 <= size) {
    const stored = block.subarray(off, off + 4);
    const tag = (readBe32(stored, 0) ^ ptag) >>> 0;
    if (!tagIsValid(tag)) {
      maybeErased = tagType2(ptag) === TYPE.crc;
      break;
    }
    const dsize = tagDiskSize(tag);
    if (off + dsize > size) break;
    crc = lfsCrc(crc, stored);
    ptag = tag;
    if (tagType2(tag) === TYPE.crc) {
      if (off + 8 > size || readLe32(block, off + 4) !== crc) break;
      ptag = (ptag ^ ((tagChunk(tag) & 1) << 31)) >>> 0;
      for (const op of pending) apply(state, op);
      pending = [];
      off += dsize;
      found = { entries: state.entries.map(cloneEntry), tail: [...state.tail], split: state.split, gdelta: state.gdelta.slice(), off, etag: ptag, erased: false };
      crc = 0xffffffff;
      continue;
    }
    const data = block.subarray(off + 4, off + dsize);
    crc = lfsCrc(crc, data);
    pending.push({ tag, data });
    off += dsize;
  }
  if (!found) return undefined;
  // Appending is only safe onto bytes that are still erased and program-aligned.
  found.erased = maybeErased && found.off % progSize === 0 && isErased(block, found.off);
  return found;
}

function isErased(block: Uint8Array, from: number): boolean {
  for (let i = from; i < block.length; i++) if (block[i] !== 0xff) return false;
  return true;
}

export function cloneEntry(e: Entry): Entry {
  return { type: e.type, name: e.name, struct: e.struct, attrs: new Map(e.attrs) };
}

function emptyEntry(): Entry {
  return { type: undefined, name: new Uint8Array(0), struct: undefined, attrs: new Map() };
}

export interface PairState {
  entries: Entry[];
  tail: [number, number];
  split: boolean;
  gdelta: Uint8Array;
}

/** Applies one tag to a pair's logical state, as a later commit supersedes an earlier one. */
export function apply(state: PairState, op: Op): void {
  const { tag, data } = op;
  const id = tagId(tag);
  const kind = tagType1(tag);
  const entries = state.entries;
  if (kind === TYPE.splice) {
    const splice = (tagChunk(tag) << 24) >> 24;
    if (splice === 1 && id <= entries.length) entries.splice(id, 0, emptyEntry());
    else if (splice === -1 && id < entries.length) entries.splice(id, 1);
    return;
  }
  if (kind === TYPE.tail) {
    if (data.length >= 8) {
      state.tail = [readLe32(data, 0), readLe32(data, 4)];
      state.split = (tagChunk(tag) & 1) === 1;
    }
    return;
  }
  if (tagType3(tag) === TYPE.moveState) {
    const delta = new Uint8Array(12);
    if (!tagIsDelete(tag)) delta.set(data.subarray(0, 12));
    state.gdelta = delta;
    return;
  }
  if (id === NO_ID || (kind !== TYPE.name && kind !== TYPE.struct && kind !== TYPE.userAttr)) return;
  while (entries.length <= id) entries.push(emptyEntry());
  const entry = entries[id] as Entry;
  const deleted = tagSize(tag) === DELETED_SIZE;
  if (kind === TYPE.name) {
    if (!deleted) {
      entry.type = tagType3(tag);
      entry.name = data;
    }
  } else if (kind === TYPE.struct) {
    entry.struct = deleted ? undefined : { type: tagType3(tag), data };
  } else if (deleted) {
    entry.attrs.delete(tagChunk(tag));
  } else {
    entry.attrs.set(tagChunk(tag), data);
  }
}
