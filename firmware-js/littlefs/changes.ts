// The in-place changes (lfs_file_sync, lfs_mkdir, lfs_remove, lfs_fs_demove in
// littlefs): each builds the tags littlefs would commit and hands them to dir-commit.
import type { Attr } from './commit.ts';
import { writeCtz } from './ctz.ts';
import { commitDir, createPair, findPred, tailAttr, type CommitContext } from './dir-commit.ts';
import { dirHead, dirPairOf, findIn, isDir, lookup } from './dir-lookup.ts';
import { corrupt, littlefsError } from './errors.ts';
import type { MetadataPair } from './metadata-pair.ts';
import { decodeName, joinPath, type ParsedPath } from './paths.ts';
import { TYPE, le32Bytes, mkTag, pairSame, tagId, tagType1, type Pair } from './tags.ts';

/** Inline files are kept in the metadata up to the device's cache size (spec §7: 128). */
const DEVICE_CACHE_SIZE = 128;
const NONE = new Uint8Array(0);

export function writeFileIn(ctx: CommitContext, p: ParsedPath, data: Uint8Array, parents: boolean): void {
  const { superblock, geo } = ctx.vol;
  const name = lastName(p);
  const head = parentHead(ctx, p, parents);
  checkName(ctx, name, p.display);
  if (data.length > superblock.fileMax) {
    throw littlefsError('no_space', `file ${p.display} is ${data.length} bytes, over the image's file_max ${superblock.fileMax}`);
  }
  const place = findIn(ctx.vol, head, name);
  if (place.found?.entry.type === TYPE.dir) throw isDir(p.display);
  const inlineMax = Math.min(DEVICE_CACHE_SIZE, superblock.attrMax || 1022, geo.blockSize / 8);
  // Data blocks are written first; the commit that points at them makes them live.
  const struct =
    data.length <= inlineMax
      ? { type: TYPE.inlineStruct, data: data.slice() }
      : { type: TYPE.ctzStruct, data: le32Bytes(writeCtz(ctx.vol.image, geo, data, () => allocForWrite(ctx)), data.length) };
  if (place.found) {
    commitDir(ctx, place.found.dir.pair, [{ tag: mkTag(struct.type, place.found.id, struct.data.length), data: struct.data }]);
    return;
  }
  commitDir(ctx, place.dir.pair, [
    { tag: mkTag(TYPE.create, place.id, 0), data: NONE },
    { tag: mkTag(TYPE.reg, place.id, name.length), data: name },
    { tag: mkTag(struct.type, place.id, struct.data.length), data: struct.data },
  ]);
}

export function mkdirIn(ctx: CommitContext, p: ParsedPath, parents: boolean): void {
  if (p.names.length === 0) {
    if (parents) return;
    throw littlefsError('exists', 'the root directory / already exists');
  }
  makeDir(ctx, parentHead(ctx, p, parents), lastName(p), p.display, parents);
}

export function removeIn(ctx: CommitContext, p: ParsedPath): void {
  const found = lookup(ctx.vol, p.names, p.display);
  if (found.root) throw littlefsError('not_empty', 'cannot remove the root directory /', 'remove the files inside it instead');
  const { loc } = found;
  let child: MetadataPair | undefined;
  if (loc.entry.type === TYPE.dir) {
    child = ctx.vol.fetch(dirPairOf(loc.entry, p.display));
    if (child.entries.length > 0 || child.split) {
      const names = [...ctx.vol.entriesOf(child.pair, ctx.vol.globalState())].map((l) => decodeName(l.entry.name));
      throw littlefsError('not_empty', `directory ${p.display} is not empty (${names.length} entries: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`, 'remove its files first');
    }
  }
  commitDir(ctx, loc.dir.pair, [{ tag: mkTag(TYPE.delete, loc.id, 0), data: NONE }]);
  if (child) {
    // Unlink the directory's pair from the threaded list, taking over its gstate share.
    const gone = ctx.vol.fetch(child.pair);
    const pred = findPred(ctx.vol, gone.pair);
    if (pred) commitDir(ctx, pred.pair, [tailAttr(gone.tail, gone.split)], gone.gdelta);
  }
}

/**
 * Finishes what power loss interrupted, as littlefs does before its first write
 * (lfs_fs_forceconsistency): deletes a pending move's source, then unlinks orphans.
 */
export function settlePendingState(ctx: CommitContext): void {
  const g = ctx.vol.globalState();
  if (tagType1(g.tag) !== 0) {
    const cancel = le32Bytes(g.tag & 0x7ffffc00, g.pair[0], g.pair[1]);
    commitDir(ctx, g.pair, [{ tag: mkTag(TYPE.delete, tagId(g.tag), 0), data: NONE }], cancel);
  }
  if (ctx.vol.globalState().tag & ORPHANS) deorphan(ctx);
}

/** The gstate bit littlefs sets while the threaded list may hold orphaned pairs. */
const ORPHANS = 0x80000000;

/**
 * Unlinks directory pairs no directory entry points at any more (a remove or mkdir
 * cut short) and clears the orphan bit with the first commit (lfs_fs_deorphan).
 */
function deorphan(ctx: CommitContext): void {
  let clear: Uint8Array | undefined = le32Bytes(ORPHANS, 0, 0);
  for (let round = 0; round <= ctx.vol.geo.blockCount; round++) {
    const orphan = findOrphan(ctx);
    if (!orphan) break;
    const { pred, dir, parentPair } = orphan;
    // A half-orphan (its parent points at a relocated copy) is re-linked to that copy.
    const attr = parentPair ? tailAttr(parentPair, pred.split) : tailAttr(dir.tail, dir.split);
    const delta = parentPair ? clear : xorBytes(dir.gdelta, clear);
    commitDir(ctx, pred.pair, [attr], delta);
    clear = undefined;
  }
  if (clear) commitDir(ctx, ctx.vol.root, [], clear);
}

function findOrphan(ctx: CommitContext): { pred: MetadataPair; dir: MetadataPair; parentPair: Pair | undefined } | undefined {
  let pred: MetadataPair | undefined;
  for (const dir of ctx.vol.threadedPairs()) {
    // Only the first pair of a directory has a parent entry; split continuations do not.
    if (pred && !pred.split) {
      const parent = parentPointer(ctx, dir.pair);
      if (!parent) return { pred, dir, parentPair: undefined };
      if (!(parent[0] === dir.pair[0] || parent[0] === dir.pair[1]) || !(parent[1] === dir.pair[0] || parent[1] === dir.pair[1])) {
        return { pred, dir, parentPair: parent };
      }
    }
    pred = dir;
  }
  return undefined;
}

/** The directory struct that points at `pair` (sharing a block with it), if any. */
function parentPointer(ctx: CommitContext, pair: Pair): Pair | undefined {
  for (const dir of ctx.vol.threadedPairs()) {
    for (const entry of dir.entries) {
      if (entry.type !== TYPE.dir || entry.struct?.type !== TYPE.dirStruct) continue;
      const target = dirPairOf(entry, '(parent scan)');
      if (pairSame(target, pair)) return target;
    }
  }
  return undefined;
}

function xorBytes(a: Uint8Array, b: Uint8Array | undefined): Uint8Array {
  const out = Uint8Array.from(a); // a copy even for a Buffer (Buffer.slice is a view)
  if (b) for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

function makeDir(ctx: CommitContext, head: Pair, name: Uint8Array, display: string, existingOk: boolean): Pair {
  checkName(ctx, name, display);
  const place = findIn(ctx.vol, head, name);
  if (place.found) {
    if (existingOk && place.found.entry.type === TYPE.dir) return dirPairOf(place.found.entry, display);
    throw littlefsError('exists', `${display} already exists as a ${place.found.entry.type === TYPE.dir ? 'directory' : 'file'}`);
  }
  // The new pair joins the threaded list right after the parent directory's last pair.
  let pred = place.dir;
  for (let steps = 0; pred.split; steps++) {
    if (steps > ctx.vol.geo.blockCount) throw corrupt(`directory chain of ${display}'s parent does not end`);
    pred = ctx.vol.fetch(pred.tail);
  }
  const fresh = createPair(ctx, pred.tail);
  if (place.dir.split) commitDir(ctx, pred.pair, [tailAttr(fresh, false)]);
  const attrs: Attr[] = [
    { tag: mkTag(TYPE.create, place.id, 0), data: NONE },
    { tag: mkTag(TYPE.dir, place.id, name.length), data: name },
    { tag: mkTag(TYPE.dirStruct, place.id, 8), data: le32Bytes(fresh[0], fresh[1]) },
  ];
  if (!place.dir.split) attrs.push(tailAttr(fresh, false));
  commitDir(ctx, place.dir.pair, attrs);
  return fresh;
}

function parentHead(ctx: CommitContext, p: ParsedPath, parents: boolean): Pair {
  const parentNames = p.names.slice(0, -1);
  if (!parents) return dirHead(ctx.vol, parentNames, p.display);
  let head: Pair = ctx.vol.root;
  let walked = '/';
  for (const name of parentNames) {
    walked = joinPath(walked, decodeName(name));
    head = makeDir(ctx, head, name, walked, true);
  }
  return head;
}

function checkName(ctx: CommitContext, name: Uint8Array, display: string): void {
  const max = ctx.vol.superblock.nameMax || 255;
  if (name.length > max) {
    throw littlefsError('name_too_long', `name of ${display} is ${name.length} bytes, the image allows ${max} (name_max)`, 'shorten the file name');
  }
}

function allocForWrite(ctx: CommitContext): number {
  const block = ctx.alloc.alloc();
  ctx.vol.willWrite(block);
  return block;
}

function lastName(p: ParsedPath): Uint8Array {
  const name = p.names[p.names.length - 1];
  if (!name) throw littlefsError('is_dir', `${p.display} is the root directory, not a file`);
  return name;
}
