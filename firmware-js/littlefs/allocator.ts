// Block allocation for one change (littlefs DESIGN.md "Block allocation"): a block is
// free when nothing reachable from the metadata uses it; blocks taken during the
// change stay taken, so old data survives until the new commit lands.
import { littlefsError } from './errors.ts';

export class BlockAllocator {
  private cursor: number;

  constructor(
    private readonly used: Uint8Array,
    start: number,
    private readonly what: string,
  ) {
    this.cursor = start % used.length;
  }

  /** Next free block scanning upward from where the last one was found (wrapping once). */
  alloc(): number {
    const n = this.used.length;
    for (let i = 0; i < n; i++) {
      const b = (this.cursor + i) % n;
      if (!this.used[b]) {
        this.used[b] = 1;
        this.cursor = (b + 1) % n;
        return b;
      }
    }
    throw littlefsError(
      'no_space',
      `LittleFS image is full: all ${n} blocks are in use while ${this.what}`,
      'remove files, write less data, or build a larger image (--size)',
    );
  }

  get position(): number {
    return this.cursor;
  }
}
