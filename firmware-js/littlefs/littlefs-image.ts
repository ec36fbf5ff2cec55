// A LittleFS image opened for reading and in-place change (littlefs SPEC.md): reads
// follow directory chains; each change appends commits (or compacts) as littlefs
// does, so the reference can mount the result and keep writing.
import { BlockAllocator } from './allocator.ts';
import { mkdirIn, removeIn, settlePendingState, writeFileIn } from './changes.ts';
import { readCtz } from './ctz.ts';
import type { CommitContext } from './dir-commit.ts';
import { dirHead, dirPairOf, isDir, lookup, statOf, type LittlefsStat } from './dir-lookup.ts';
import { corrupt } from './errors.ts';
import { decodeName, joinPath, parsePath } from './paths.ts';
import { TYPE, readLe32, type Pair } from './tags.ts';
import { Volume } from './volume.ts';

export type { LittlefsStat };

export interface OpenOptions {
  /** Block size; read from the superblock when absent. */
  blockSize?: number;
  /** Program unit for commits written here: 128 as on the device (mklfs uses 64). */
  progSize?: number;
}

export interface WriteOptions {
  /** Create missing parent directories (like mkdir -p); for mkdir, an existing directory is fine. */
  parents?: boolean;
}

export class LittlefsImage {
  private readonly vol: Volume;
  /** Where the next allocation scan starts, so successive changes spread over the blocks. */
  private cursor = 0;

  /** Takes ownership of `bytes` and changes them in place; openLittlefs passes a copy. */
  constructor(private readonly bytes: Uint8Array, opts: OpenOptions = {}) {
    this.vol = Volume.mount(bytes, opts);
  }

  get blockSize(): number {
    return this.vol.geo.blockSize;
  }

  get blockCount(): number {
    return this.vol.geo.blockCount;
  }

  /** Disk format version from the superblock, e.g. 0x00020000 for 2.0. */
  get version(): number {
    return this.vol.superblock.version;
  }

  /** Blocks in use (metadata pairs and file data), as littlefs's lfs_fs_size counts them. */
  usage(): { blockSize: number; blockCount: number; usedBlocks: number } {
    return { blockSize: this.blockSize, blockCount: this.blockCount, usedBlocks: this.vol.usedBlocks().reduce((n, u) => n + u, 0) };
  }

  /** The current bytes of the image (a copy). */
  image(): Uint8Array {
    return this.bytes.slice();
  }

  stat(path: string): LittlefsStat {
    const p = parsePath(path);
    const found = lookup(this.vol, p.names, p.display);
    return found.root ? { path: '/', name: '', type: 'dir', size: 0 } : statOf(found.loc.entry, p.display);
  }

  exists(path: string): boolean {
    try {
      this.stat(path);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'firmware.littlefs.not_found') return false;
      throw e;
    }
  }

  /** The entries of one directory, in littlefs order. */
  list(dir = '/'): LittlefsStat[] {
    const p = parsePath(dir);
    const head = dirHead(this.vol, p.names, p.display);
    return [...this.vol.entriesOf(head, this.vol.globalState())].map((l) => statOf(l.entry, joinPath(p.display, decodeName(l.entry.name))));
  }

  /** Every file and directory below the root, depth first in littlefs order. */
  walk(): LittlefsStat[] {
    const out: LittlefsStat[] = [];
    const g = this.vol.globalState();
    const seen = new Set<number>();
    const visit = (head: Pair, path: string): void => {
      // A directory struct pointing back up the tree would otherwise recurse forever.
      if (seen.has(head[0]) || seen.has(head[1])) throw corrupt(`directory ${path} is reachable twice (a directory cycle)`);
      seen.add(head[0]);
      seen.add(head[1]);
      for (const l of this.vol.entriesOf(head, g)) {
        const s = statOf(l.entry, joinPath(path, decodeName(l.entry.name)));
        out.push(s);
        if (s.type === 'dir') visit(dirPairOf(l.entry, s.path), s.path);
      }
    };
    visit(this.vol.root, '/');
    return out;
  }

  readFile(path: string): Uint8Array {
    const p = parsePath(path);
    const found = lookup(this.vol, p.names, p.display);
    if (found.root || found.loc.entry.type === TYPE.dir) throw isDir(p.display);
    const s = found.loc.entry.struct;
    if (!s) return new Uint8Array(0);
    if (s.type === TYPE.inlineStruct) return s.data.slice();
    if (s.type === TYPE.ctzStruct && s.data.length >= 8) return readCtz(this.bytes, this.vol.geo, readLe32(s.data, 0), readLe32(s.data, 4), p.display);
    throw corrupt(`file ${p.display} has an unknown struct type 0x${s.type.toString(16)}`);
  }

  /** Creates or replaces a file. */
  writeFile(path: string, data: Uint8Array, opts: WriteOptions = {}): void {
    const p = parsePath(path);
    this.change(`writing ${p.display}`, (ctx) => writeFileIn(ctx, p, data, opts.parents ?? false));
  }

  mkdir(path: string, opts: WriteOptions = {}): void {
    const p = parsePath(path);
    this.change(`creating directory ${p.display}`, (ctx) => mkdirIn(ctx, p, opts.parents ?? false));
  }

  /** Removes a file or an empty directory. */
  remove(path: string): void {
    const p = parsePath(path);
    this.change(`removing ${p.display}`, (ctx) => removeIn(ctx, p));
  }

  /** Runs one change; if it fails, the image is restored byte for byte. */
  private change(what: string, fn: (ctx: CommitContext) => void): void {
    this.vol.beginChange();
    try {
      const ctx: CommitContext = {
        vol: this.vol,
        alloc: new BlockAllocator(this.vol.usedBlocks(), this.cursor, what),
        fcrc: (this.vol.superblock.version & 0xffff) >= 1,
      };
      settlePendingState(ctx);
      fn(ctx);
      this.cursor = ctx.alloc.position;
      this.vol.endChange();
    } catch (e) {
      this.vol.rollback();
      throw e;
    }
  }
}
