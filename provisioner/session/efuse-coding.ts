// The ESP32 3/4 coding scheme for BLK1-3 (spec esp32-rom-efuse-crypto.md §3.4): 24 data
// bytes in four 6-byte groups, each written with an XOR byte and a weighted popcount byte.
// The host encodes; the controller decodes on READ and flags bad groups in DEC_STATUS.

function popcount8(b: number): number {
  let n = 0;
  for (let v = b; v; v &= v - 1) n++;
  return n;
}

/** Six data words (RDATA order) → the eight raw words written to the block's WDATA. */
export function encode34Words(data: readonly number[]): number[] {
  if (data.length !== 6) throw new RangeError(`3/4 coding takes 6 words (24 bytes), got ${data.length}`);
  const bytes = Buffer.alloc(24);
  data.forEach((w, i) => bytes.writeUInt32LE(w >>> 0, i * 4));
  const raw = Buffer.alloc(32);
  for (let g = 0; g < 4; g++) {
    let xor = 0;
    let weighted = 0;
    for (let i = 0; i < 6; i++) {
      const b = bytes[g * 6 + i] as number;
      raw[g * 8 + i] = b;
      xor ^= b;
      weighted += (i + 1) * popcount8(b);
    }
    raw[g * 8 + 6] = xor;
    raw[g * 8 + 7] = weighted & 0xff;
  }
  return Array.from({ length: 8 }, (_, i) => raw.readUInt32LE(i * 4));
}

/** Which 6-byte groups (0..3) hold any set bit in these data words. */
export function usedGroups34(data: readonly number[]): boolean[] {
  const bytes = Buffer.alloc(24);
  data.slice(0, 6).forEach((w, i) => bytes.writeUInt32LE(w >>> 0, i * 4));
  return [0, 1, 2, 3].map((g) => bytes.subarray(g * 6, g * 6 + 6).some((b) => b !== 0));
}
