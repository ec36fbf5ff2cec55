// NOR flash as the ROM and stubs see it (spec esp32-rom-efuse-crypto.md §1.10): programming
// can only clear bits (new = old AND data); only an erase sets 4 KiB sectors back to 0xFF.
import { FLASH_SECTOR } from './targets/esp32.ts';
import { SimError } from './errors.ts';

export class NorFlash {
  readonly bytes: Uint8Array;
  /** Counts erase and program operations, so tests can see what a host actually did. */
  readonly stats = { sectorErases: 0, bytesProgrammed: 0 };

  constructor(readonly size: number, initial?: Uint8Array) {
    if (size % FLASH_SECTOR !== 0) throw new SimError('sim.flash.bad_size', `flash size ${size} is not a multiple of 4 KiB`);
    this.bytes = new Uint8Array(size).fill(0xff);
    if (initial) this.bytes.set(initial.subarray(0, size));
  }

  read(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    return this.bytes.slice(offset, offset + length);
  }

  /** Programs bytes: a 1 bit in the data leaves the cell as it was, a 0 bit clears it. */
  program(offset: number, data: Uint8Array): void {
    this.checkRange(offset, data.length);
    const b = this.bytes;
    for (let i = 0; i < data.length; i++) b[offset + i] = (b[offset + i] ?? 0xff) & (data[i] ?? 0xff);
    this.stats.bytesProgrammed += data.length;
  }

  eraseSector(sectorAddress: number): void {
    if (sectorAddress % FLASH_SECTOR !== 0) {
      throw new SimError('sim.flash.unaligned_erase', `erase address 0x${sectorAddress.toString(16)} is not sector aligned`);
    }
    this.checkRange(sectorAddress, FLASH_SECTOR);
    this.bytes.fill(0xff, sectorAddress, sectorAddress + FLASH_SECTOR);
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
    this.bytes.fill(0xff);
    this.stats.sectorErases += this.size / FLASH_SECTOR;
  }

  contains(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.size;
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
