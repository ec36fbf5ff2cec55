// Commits to metadata pairs the way littlefs does (lfs.c relocatingcommit, compact,
// split, drop — SPEC.md "Directories / Metadata pairs"): append while the block has
// erased room, else compact into the other block, splitting when over half full.
import type { BlockAllocator } from './allocator.ts';
import { alignUp, attrsDiskSize, writeCommit, type Attr, type CommitOptions } from './commit.ts';
import { littlefsError } from './errors.ts';
import { apply, blockBytes, cloneEntry, type Entry, type Geometry, type MetadataPair, type PairState } from './metadata-pair.ts';
import { NO_ID, TYPE, lfsCrc, le32Bytes, mkTag, pairIsNull, pairSame, readLe32, type Pair } from './tags.ts';
import type { Volume } from './volume.ts';

export interface CommitContext {
  vol: Volume;
  alloc: BlockAllocator;
  /** Disk format 2.1 images get FCRC tags, 2.0 ones must not. */
  fcrc: boolean;
}

/** Most entries one pair holds before littlefs splits it. */
const MAX_PAIR_ENTRIES = 0xff;

/** Commits `attrs` to the pair, optionally folding `gdeltaXor` into its gstate share. */
export function commitDir(ctx: CommitContext, pair: Pair, attrs: readonly Attr[], gdeltaXor?: Uint8Array): void {
  const dir = ctx.vol.fetch(pair);
  const state: PairState = { entries: dir.entries.map(cloneEntry), tail: [...dir.tail], split: dir.split, gdelta: dir.gdelta.slice() };
  let hasDelete = false;
  for (const a of attrs) {
    apply(state, a);
    if (a.tag >>> 20 === TYPE.delete) hasDelete = true;
  }
  const gdelta = xor12(dir.gdelta, gdeltaXor);

  // An emptied pair that continues a split directory is unlinked, not rewritten.
  if (hasDelete && state.entries.length === 0) {
    const pred = findPred(ctx.vol, dir.pair);
    if (pred && pred.split) {
      commitDir(ctx, pred.pair, [tailAttr(state.tail, state.split)], gdelta);
      return;
    }
  }

  const extra = isZero(gdeltaXor) ? [] : [gstateAttr(gdelta)];
  const all = [...attrs, ...extra];
  const { blockSize } = ctx.vol.geo;
  if (dir.erased && state.entries.length < MAX_PAIR_ENTRIES && dir.off + attrsDiskSize(all) <= blockSize - 8) {
    ctx.vol.willWrite(dir.pair[0]);
    const block = blockBytes(ctx.vol.image, ctx.vol.geo, dir.pair[0]);
    writeCommit(block, { off: dir.off, ptag: dir.etag }, all, commitOptions(ctx));
    ctx.vol.invalidate();
    return;
  }
  splittingCompact(ctx, dir, { ...state, gdelta });
}

/** A new, empty metadata pair whose tail is `tail` (lfs_dir_alloc + first compaction). */
export function createPair(ctx: CommitContext, tail: Pair, split = false): [number, number] {
  const second = ctx.alloc.alloc();
  const first = ctx.alloc.alloc();
  // Start from the stale revision in the block we keep, so the block we write wins.
  const rev = readLe32(blockBytes(ctx.vol.image, ctx.vol.geo, first), 0);
  compactInto(ctx, [first, second], rev, { entries: [], tail: [tail[0], tail[1]], split, gdelta: new Uint8Array(12) });
  return [second, first];
}

/** The pair whose tail points at `pair` on the threaded list. */
export function findPred(vol: Volume, pair: Pair): MetadataPair | undefined {
  for (const dir of vol.threadedPairs()) {
    if (!pairIsNull(dir.tail) && pairSame(dir.tail, pair)) return dir;
  }
  return undefined;
}

export function tailAttr(tail: Pair, split: boolean): Attr {
  return { tag: mkTag(split ? TYPE.hardTail : TYPE.softTail, NO_ID, 8), data: le32Bytes(tail[0], tail[1]) };
}

function gstateAttr(gdelta: Uint8Array): Attr {
  return { tag: mkTag(TYPE.moveState, NO_ID, 12), data: gdelta };
}

function commitOptions(ctx: CommitContext): CommitOptions {
  return { progSize: ctx.vol.progSize, fcrc: ctx.fcrc };
}

/** Compacts the state into the pair, first moving upper halves into new pairs while too big. */
function splittingCompact(ctx: CommitContext, dir: MetadataPair, state: PairState): void {
  const { blockSize } = ctx.vol.geo;
  const entries = state.entries.filter((e) => e.type !== undefined);
  let end = entries.length;
  let tail: [number, number] = [...state.tail];
  let split = state.split;
  const limit = Math.min(blockSize - 40, alignUp(blockSize / 2, ctx.vol.progSize));
  for (;;) {
    let cut = 0;
    while (end - cut > 1) {
      const size = attrsDiskSize(entriesAttrs(entries.slice(cut, end)));
      if (end - cut < MAX_PAIR_ENTRIES && size <= limit) break;
      cut += Math.floor((end - cut) / 2);
    }
    if (cut === 0) break;
    let fresh: [number, number];
    try {
      const second = ctx.alloc.alloc();
      const first = ctx.alloc.alloc();
      const rev = readLe32(blockBytes(ctx.vol.image, ctx.vol.geo, first), 0);
      compactInto(ctx, [first, second], rev, { entries: entries.slice(cut, end), tail, split, gdelta: new Uint8Array(12) });
      fresh = [second, first];
    } catch (e) {
      // Out of blocks: try to keep everything in this pair, as littlefs degrades.
      if ((e as { code?: string }).code === 'firmware.littlefs.no_space') break;
      throw e;
    }
    tail = fresh;
    split = true;
    end = cut;
  }
  compactInto(ctx, dir.pair, dir.rev, { entries: entries.slice(0, end), tail, split, gdelta: state.gdelta });
}

/** Erases pair[1] and writes the whole state there as one commit with revision rev + 1. */
function compactInto(ctx: CommitContext, pair: Pair, rev: number, state: PairState): void {
  ctx.vol.willWrite(pair[1]);
  compactBlock(ctx.vol.image, ctx.vol.geo, commitOptions(ctx), pair, rev, state);
  ctx.vol.invalidate();
}

/** The low-level compaction, also used by format before any volume exists. */
export function compactBlock(image: Uint8Array, geo: Geometry, opts: CommitOptions, pair: Pair, rev: number, state: PairState): void {
  const { blockSize } = geo;
  const attrs = entriesAttrs(state.entries);
  if (!pairIsNull(state.tail)) attrs.push(tailAttr(state.tail, state.split));
  if (!isZero(state.gdelta)) attrs.push(gstateAttr(state.gdelta));
  if (4 + attrsDiskSize(attrs) > blockSize - 8) {
    throw littlefsError(
      'no_space',
      `LittleFS metadata does not fit: ${state.entries.length} entries need ${4 + attrsDiskSize(attrs)} bytes in a ${blockSize}-byte block`,
      'use fewer or shorter names per directory, or smaller inline files',
    );
  }
  const block = new Uint8Array(blockSize).fill(0xff);
  const revBytes = le32Bytes((rev + 1) >>> 0);
  block.set(revBytes, 0);
  writeCommit(block, { off: 4, ptag: 0xffffffff }, attrs, opts, lfsCrc(0xffffffff, revBytes));
  blockBytes(image, geo, pair[1]).set(block);
}

/** Name, struct and user attributes of each entry, ids renumbered from 0 (compaction order). */
function entriesAttrs(entries: readonly Entry[]): Attr[] {
  const attrs: Attr[] = [];
  entries.forEach((e, id) => {
    if (e.type === undefined) return;
    attrs.push({ tag: mkTag(e.type, id, e.name.length), data: e.name });
    if (e.struct) attrs.push({ tag: mkTag(e.struct.type, id, e.struct.data.length), data: e.struct.data });
    for (const [type, data] of [...e.attrs].sort((a, b) => a[0] - b[0])) attrs.push({ tag: mkTag(TYPE.userAttr + type, id, data.length), data });
  });
  return attrs;
}

function isZero(bytes: Uint8Array | undefined): boolean {
  return bytes === undefined || bytes.every((b) => b === 0);
}

function xor12(a: Uint8Array, b: Uint8Array | undefined): Uint8Array {
  const out = a.slice(0, 12);
  if (b) for (let i = 0; i < 12; i++) out[i] = (out[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

