// The ESP32 3/4 coding scheme for BLK1–3 (spec esp32-rom-efuse-crypto.md §3.4): 24 data
// bytes as four 6-byte groups, each stored with an XOR byte and a weighted popcount byte.

export interface Decoded34 {
  /** 8 words: the 24 decoded bytes in words 0–5, words 6–7 zero. */
  words: Uint32Array;
  /** One flag per group whose check bytes do not match (what DEC_STATUS reports). */
  badGroups: boolean[];
}

function popcount8(b: number): number {
  let n = 0;
  for (let v = b; v; v &= v - 1) n++;
  return n;
}

function checkBytes(group: Uint8Array): [number, number] {
  let xor = 0;
  let weighted = 0;
  group.forEach((b, i) => {
    xor ^= b;
    weighted += (i + 1) * popcount8(b);
  });
  return [xor, weighted & 0xff];
}

/** Encodes 24 bytes into the 8 raw words a host writes to the block's write registers. */
export function encode34(data: Uint8Array): Uint32Array {
  if (data.length !== 24) throw new RangeError(`3/4 coding takes 24 bytes, got ${data.length}`);
  const raw = new Uint8Array(32);
  for (let g = 0; g < 4; g++) {
    const group = data.subarray(g * 6, g * 6 + 6);
    raw.set(group, g * 8);
    const [xor, weighted] = checkBytes(group);
    raw[g * 8 + 6] = xor;
    raw[g * 8 + 7] = weighted;
  }
  return new Uint32Array(raw.buffer);
}

export function decode34(rawWords: Uint32Array): Decoded34 {
  const raw = new Uint8Array(32);
  rawWords.forEach((w, i) => new DataView(raw.buffer).setUint32(i * 4, w >>> 0, true));
  const data = new Uint8Array(32);
  const badGroups: boolean[] = [];
  for (let g = 0; g < 4; g++) {
    const group = raw.subarray(g * 8, g * 8 + 6);
    data.set(group, g * 6);
    const [xor, weighted] = checkBytes(group);
    const blank = raw.subarray(g * 8, g * 8 + 8).every((b) => b === 0);
    badGroups.push(!blank && (raw[g * 8 + 6] !== xor || raw[g * 8 + 7] !== weighted));
  }
  const words = new Uint32Array(8);
  for (let i = 0; i < 6; i++) words[i] = new DataView(data.buffer).getUint32(i * 4, true);
  return { words, badGroups };
}
