// The sector-by-sector NOR flash (nor-flash.ts): the same NOR rules as one array, erased
// sectors cost nothing, and identical sectors shared between flashes are copied on write.
import { describe, expect, it } from 'vitest';
import { NorFlash, SectorStore } from '../virtual-esp32/nor-flash.ts';

const SECTOR = 0x1000;
// Not periodic in 4 KiB, so two sectors of one pattern differ.
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed + Math.floor(i / 251)) & 0xff);

describe('NorFlash stored by sector', () => {
  it('obeys NOR rules across sector boundaries exactly as the flat array does', () => {
    const sparse = new NorFlash(16 * SECTOR);
    const flat = new NorFlash(16 * SECTOR);
    void flat.bytes; // flat from the start
    for (const f of [sparse, flat]) {
      f.program(SECTOR - 100, pattern(300, 1));
      f.program(SECTOR - 50, pattern(100, 7)); // AND over what is there
      f.eraseSector(2 * SECTOR);
      f.program(5 * SECTOR + 10, new Uint8Array(20).fill(0xff)); // all ones: nothing changes
    }
    expect(Buffer.from(sparse.read(0, 16 * SECTOR)).equals(Buffer.from(flat.read(0, 16 * SECTOR)))).toBe(true);
    expect(sparse.footprint()).toMatchObject({ ownSectors: 2, sharedSectors: 0, erasedSectors: 14 });
    expect(Buffer.from(sparse.bytes).equals(Buffer.from(flat.bytes))).toBe(true);
  });

  it('shares identical sectors between flashes and copies one on its next write or erase', () => {
    const store = new SectorStore();
    const a = new NorFlash(8 * SECTOR);
    const b = new NorFlash(8 * SECTOR);
    const data = pattern(2 * SECTOR, 3);
    a.program(0, data);
    b.program(0, data);
    b.program(4 * SECTOR, pattern(SECTOR, 9)); // only b has this one
    a.shareSectors(store);
    b.shareSectors(store);
    expect(a.sharesSector(b, 0)).toBe(true);
    expect(a.sharesSector(b, SECTOR)).toBe(true);
    expect(b.footprint()).toMatchObject({ sharedSectors: 3, ownSectors: 0 });
    expect(store.size).toBe(3);

    a.program(10, Uint8Array.of(0x00));
    expect(a.read(10, 1)[0]).toBe(0);
    expect(b.read(10, 1)[0]).toBe(data[10]);
    expect(a.sharesSector(b, 0)).toBe(false);
    b.eraseSector(SECTOR);
    expect(b.read(SECTOR, SECTOR).every((x) => x === 0xff)).toBe(true);
    expect(Buffer.from(a.read(SECTOR, SECTOR)).equals(Buffer.from(data.subarray(SECTOR)))).toBe(true);
    // Programming a shared sector still only clears bits.
    a.program(SECTOR + 1, Uint8Array.of(0xf0));
    expect(a.read(SECTOR + 1, 1)[0]).toBe((data[SECTOR + 1] ?? 0) & 0xf0);
  });

  it('sectors with different bytes stay apart', () => {
    const store = new SectorStore();
    const a = new NorFlash(2 * SECTOR);
    const b = new NorFlash(2 * SECTOR);
    a.program(0, pattern(SECTOR, 1));
    b.program(0, pattern(SECTOR, 2));
    a.shareSectors(store);
    b.shareSectors(store);
    expect(a.sharesSector(b, 0)).toBe(false);
    expect(b.read(0, 4)).toEqual(pattern(4, 2));
  });
});
