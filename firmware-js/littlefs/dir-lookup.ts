// Path lookup through directory chains (littlefs SPEC.md "0x200 LFS_TYPE_DIRSTRUCT",
// lfs_dir_find): names are found, or their insertion point chosen, in littlefs order.
import { corrupt, littlefsError } from './errors.ts';
import type { Entry, MetadataPair } from './metadata-pair.ts';
import { decodeName, joinPath } from './paths.ts';
import { TYPE, readLe32, type Pair } from './tags.ts';
import { compareNames, type Located, type Volume } from './volume.ts';

export interface LittlefsStat {
  /** Canonical absolute path, '/' for the root. */
  path: string;
  name: string;
  type: 'file' | 'dir';
  /** File size in bytes; 0 for directories. */
  size: number;
}

export type Lookup = { root: true; head: Pair } | { root: false; loc: Located };

/** Where `name` is in a directory, or the pair and id where littlefs would insert it. */
export function findIn(vol: Volume, head: Pair, name: Uint8Array): { found: Located | undefined; dir: MetadataPair; id: number } {
  const g = vol.globalState();
  let last: MetadataPair | undefined;
  for (const dir of vol.dirChain(head)) {
    last = dir;
    const hidden = vol.hiddenId(dir, g);
    for (let id = 0; id < dir.entries.length; id++) {
      const entry = dir.entries[id] as Entry;
      if (entry.type !== TYPE.reg && entry.type !== TYPE.dir) continue;
      const c = compareNames(entry.name, name);
      if (c === 0 && id !== hidden) return { found: { dir, id, entry }, dir, id };
      // The first greater name marks the insertion point; later pairs hold greater names.
      if (c > 0) return { found: undefined, dir, id };
    }
  }
  if (!last) throw corrupt('empty directory chain');
  return { found: undefined, dir: last, id: last.entries.length };
}

export function lookup(vol: Volume, names: readonly Uint8Array[], display: string): Lookup {
  let head: Pair = vol.root;
  let loc: Located | undefined;
  let walked = '';
  for (const name of names) {
    if (loc) {
      if (loc.entry.type !== TYPE.dir) throw notDir(walked, display);
      head = dirPairOf(loc.entry, walked);
    }
    walked = joinPath(walked || '/', decodeName(name));
    const place = findIn(vol, head, name);
    if (!place.found) throw notFound(walked, display);
    loc = place.found;
  }
  return loc ? { root: false, loc } : { root: true, head };
}

/** The first pair of the directory at `names`. */
export function dirHead(vol: Volume, names: readonly Uint8Array[], display: string): Pair {
  const found = lookup(vol, names, display);
  if (found.root) return found.head;
  if (found.loc.entry.type !== TYPE.dir) throw notDir(display, display);
  return dirPairOf(found.loc.entry, display);
}

export function dirPairOf(entry: Entry, path: string): Pair {
  const s = entry.struct;
  if (!s || s.type !== TYPE.dirStruct || s.data.length < 8) throw corrupt(`directory ${path} has no directory struct`);
  return [readLe32(s.data, 0), readLe32(s.data, 4)];
}

export function statOf(entry: Entry, path: string): LittlefsStat {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (entry.type === TYPE.dir) return { path, name, type: 'dir', size: 0 };
  const s = entry.struct;
  const size = !s ? 0 : s.type === TYPE.ctzStruct ? readLe32(s.data, 4) : s.data.length;
  return { path, name, type: 'file', size };
}

export function notFound(walked: string, display: string) {
  return littlefsError(
    'not_found',
    walked === display ? `${display} not found in the LittleFS image` : `${display} not found in the LittleFS image (${walked} does not exist)`,
    'list the image with `espfleet fs ls <img>`',
  );
}

export function notDir(walked: string, display: string) {
  return littlefsError('not_dir', `${walked} is a file, not a directory${walked === display ? '' : ` (in ${display})`}`);
}

export function isDir(display: string) {
  return littlefsError('is_dir', `${display} is a directory, not a file`);
}
