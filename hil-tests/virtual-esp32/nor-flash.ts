// NOR flash as the ROM and stubs see it (spec esp32-rom-efuse-crypto.md §1.10): programming
// can only clear bits (new = old AND data); only an erase sets 4 KiB sectors back to 0xFF.
// Stored sector by sector, so a thousand boards in one process cost what they hold: an
// erased sector is no memory, and identical sectors may be shared copy-on-write
// (shareSectors). Hosts and tests that index the whole flash get one array (`bytes`).
import { createHash } from 'node:crypto';
import { FLASH_SECTOR } from './targets/esp32.ts';
import { SimError } from './errors.ts';

/** Where sectors with the same bytes are found, across boards: keyed by content, held weakly. */
export class SectorStore {
  private readonly byDigest = new Map<string, WeakRef<Uint8Array>>();
  private readonly forget = new FinalizationRegistry<string>((digest) => {
    if (this.byDigest.get(digest)?.deref() === undefined) this.byDigest.delete(digest);
  });

  /** The stored sector with these bytes (compared byte for byte, not just by digest), or `sector` itself, now stored. */
  intern(sector: Uint8Array): Uint8Array {
    const digest = createHash('sha1').update(sector).digest('base64');
    const known = this.byDigest.get(digest)?.deref();
    if (known && Buffer.compare(known, sector) === 0) return known;
    this.byDigest.set(digest, new WeakRef(sector));
    this.forget.register(sector, digest);
    return sector;
  }

  /** Distinct sectors held (live ones; collected ones drop out). */
  get size(): number {
    return this.byDigest.size;
  }
}

export interface FlashFootprint {
  /** Sectors holding data only this flash has. */
  ownSectors: number;
  /** Sectors whose bytes are shared with other flashes through a SectorStore. */
  sharedSectors: number;
  erasedSectors: number;
  /** Bytes this flash alone keeps alive (own sectors, or the whole array once `bytes` was used). */
  ownBytes: number;
}

export class NorFlash {
  /** Counts erase and program operations, so tests can see what a host actually did. */
  readonly stats = { sectorErases: 0, bytesProgrammed: 0 };
  /** Per sector: undefined = erased (all 0xFF); else its 4 KiB. Unused once `flat` exists. */
  private readonly sectors: Array<Uint8Array | undefined>;
  /** 1 where the sector's array belongs to a SectorStore: a write copies it first. */
  private readonly sharedMask: Uint8Array;
  /** Sectors written since the last shareSectors. */
  private readonly dirty = new Set<number>();
  private flat: Uint8Array | undefined;

  constructor(readonly size: number, initial?: Uint8Array) {
    if (size % FLASH_SECTOR !== 0) throw new SimError('sim.flash.bad_size', `flash size ${size} is not a multiple of 4 KiB`);
    this.sectors = new Array<Uint8Array | undefined>(size / FLASH_SECTOR);
    this.sharedMask = new Uint8Array(size / FLASH_SECTOR);
    if (initial) this.bytes.set(initial.subarray(0, size));
  }

  /**
   * The whole flash as one array, for hosts and tests that index it directly. Made on first
   * use; from then on it is the storage (no sector is shared or left sparse any more).
   */
  get bytes(): Uint8Array {
    if (this.flat) return this.flat;
    const flat = new Uint8Array(this.size).fill(0xff);
    this.sectors.forEach((s, i) => s && flat.set(s, i * FLASH_SECTOR));
    this.sectors.fill(undefined);
    this.sharedMask.fill(0);
    this.dirty.clear();
    this.flat = flat;
    return flat;
  }

  read(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    if (this.flat) return this.flat.slice(offset, offset + length);
    const out = new Uint8Array(length).fill(0xff);
    for (let at = offset; at < offset + length; ) {
      const index = Math.floor(at / FLASH_SECTOR);
      const within = at - index * FLASH_SECTOR;
      const n = Math.min(FLASH_SECTOR - within, offset + length - at);
      const sector = this.sectors[index];
      if (sector) out.set(sector.subarray(within, within + n), at - offset);
      at += n;
    }
    return out;
  }

  /** Programs bytes: a 1 bit in the data leaves the cell as it was, a 0 bit clears it. */
  program(offset: number, data: Uint8Array): void {
    this.checkRange(offset, data.length);
    if (this.flat) {
      const b = this.flat;
      for (let i = 0; i < data.length; i++) b[offset + i] = (b[offset + i] ?? 0xff) & (data[i] ?? 0xff);
    } else {
      for (let at = offset; at < offset + data.length; ) {
        const index = Math.floor(at / FLASH_SECTOR);
        const within = at - index * FLASH_SECTOR;
        const n = Math.min(FLASH_SECTOR - within, offset + data.length - at);
        const from = at - offset;
        // All-ones data into an erased sector changes no cell: it stays erased (no memory).
        if (this.sectors[index] === undefined && allOnes(data, from, n)) {
          at += n;
          continue;
        }
        const sector = this.writable(index);
        for (let i = 0; i < n; i++) sector[within + i] = (sector[within + i] ?? 0xff) & (data[from + i] ?? 0xff);
        at += n;
      }
    }
    this.stats.bytesProgrammed += data.length;
  }

  eraseSector(sectorAddress: number): void {
    if (sectorAddress % FLASH_SECTOR !== 0) {
      throw new SimError('sim.flash.unaligned_erase', `erase address 0x${sectorAddress.toString(16)} is not sector aligned`);
    }
    this.checkRange(sectorAddress, FLASH_SECTOR);
    if (this.flat) this.flat.fill(0xff, sectorAddress, sectorAddress + FLASH_SECTOR);
    else this.release(sectorAddress / FLASH_SECTOR);
    this.stats.sectorErases++;
  }

  /** Erases every sector that overlaps [offset, offset + length). */
  eraseCovering(offset: number, length: number): void {
    if (length <= 0) return;
    const start = Math.floor(offset / FLASH_SECTOR) * FLASH_SECTOR;
    const end = Math.min(this.size, Math.ceil((offset + length) / FLASH_SECTOR) * FLASH_SECTOR);
    for (let a = start; a < end; a += FLASH_SECTOR) this.eraseSector(a);
  }

  eraseAll(): void {
    if (this.flat) this.flat.fill(0xff);
    else for (let i = 0; i < this.sectors.length; i++) this.release(i);
    this.stats.sectorErases += this.size / FLASH_SECTOR;
  }

  contains(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.size;
  }

  /**
   * Puts the sectors written since the last call into `store`: one whose bytes the store
   * already holds (another board's) is dropped for that shared copy. Shared sectors are
   * read-only; the next write to one copies it first, so no other flash sees the change.
   * Only for plaintext flash: encrypted sectors differ per key, sharing would find nothing.
   */
  shareSectors(store: SectorStore): void {
    if (this.flat) return;
    for (const index of this.dirty) {
      const sector = this.sectors[index];
      if (!sector) continue;
      this.sectors[index] = store.intern(sector);
      this.sharedMask[index] = 1;
    }
    this.dirty.clear();
  }

  /** True when this flash and `other` hold the sector at `address` in one shared array (not just equal bytes). */
  sharesSector(other: NorFlash, address: number): boolean {
    this.checkRange(address, 1);
    const index = Math.floor(address / FLASH_SECTOR);
    const mine = this.flat ? undefined : this.sectors[index];
    return mine !== undefined && this.sharedMask[index] === 1 && !other.flat && other.sectors[index] === mine;
  }

  /** What this flash keeps in memory, for the fleet's memory figures. */
  footprint(): FlashFootprint {
    const total = this.size / FLASH_SECTOR;
    if (this.flat) return { ownSectors: total, sharedSectors: 0, erasedSectors: 0, ownBytes: this.size };
    let own = 0;
    let shared = 0;
    this.sectors.forEach((s, i) => {
      if (!s) return;
      if (this.sharedMask[i]) shared++;
      else own++;
    });
    return { ownSectors: own, sharedSectors: shared, erasedSectors: total - own - shared, ownBytes: own * FLASH_SECTOR };
  }

  /** The sector's own array, copied first when it is shared (copy-on-write) and made when erased. */
  private writable(index: number): Uint8Array {
    let sector = this.sectors[index];
    if (!sector) sector = new Uint8Array(FLASH_SECTOR).fill(0xff);
    else if (this.sharedMask[index]) sector = sector.slice();
    this.sectors[index] = sector;
    this.sharedMask[index] = 0;
    this.dirty.add(index);
    return sector;
  }

  private release(index: number): void {
    this.sectors[index] = undefined;
    this.sharedMask[index] = 0;
    this.dirty.delete(index);
  }

  private checkRange(offset: number, length: number): void {
    if (!this.contains(offset, length)) {
      throw new SimError(
        'sim.flash.out_of_range',
        `flash access 0x${offset.toString(16)}+0x${length.toString(16)} is beyond the 0x${this.size.toString(16)}-byte flash`,
      );
    }
  }
}

function allOnes(data: Uint8Array, from: number, n: number): boolean {
  for (let i = from; i < from + n; i++) if (data[i] !== 0xff) return false;
  return true;
}
