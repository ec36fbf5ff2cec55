// A small deterministic PRNG (mulberry32) for seeded fuzz and property tests:
// a failing case is reproduced by its seed alone.

export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [min, max] inclusive. */
  int(min: number, max: number): number {
    return min + (this.nextU32() % (max - min + 1));
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.nextU32() & 0xff;
    return out;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length - 1)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  /** A copy of `input` with one random mutation: flip, set, insert, delete, truncate or splice. */
  mutate(input: Uint8Array): Uint8Array {
    const out = input.slice();
    const at = out.length === 0 ? 0 : this.int(0, out.length - 1);
    switch (this.int(0, 5)) {
      case 0:
        if (out.length) out[at] = (out[at] ?? 0) ^ (1 << this.int(0, 7));
        return out;
      case 1:
        if (out.length) out[at] = this.pick([0x00, 0xff, 0x7f, 0x80, 0x01, this.int(0, 255)]);
        return out;
      case 2: {
        const extra = this.bytes(this.int(1, 16));
        return Uint8Array.from([...out.subarray(0, at), ...extra, ...out.subarray(at)]);
      }
      case 3:
        return Uint8Array.from([...out.subarray(0, at), ...out.subarray(Math.min(out.length, at + this.int(1, 16)))]);
      case 4:
        return out.subarray(0, at);
      default: {
        // Overwrite a 4-byte little-endian field with an extreme value.
        const v = this.pick([0, 0xffffffff, 0x7fffffff, 0x80000000, out.length, this.nextU32()]);
        for (let i = 0; i < 4 && at + i < out.length; i++) out[at + i] = (v >>> (8 * i)) & 0xff;
        return out;
      }
    }
  }
}
