// AES-256 single-block primitives (FIPS-197) with a per-call key schedule.
// ESP32 flash encryption uses a different key for every 32-byte block, and
// setting up an OpenSSL cipher per block costs more than the AES itself; this
// table-driven version keeps a whole 1.5 MB app well under 100 ms.

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
const TE = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)] as const;
const TD = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)] as const;

(function buildTables(): void {
  const exp = new Uint8Array(256);
  const log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x ^= (x << 1) ^ (x & 0x80 ? 0x1b : 0); // multiply by 3 in GF(2^8)
    x &= 0xff;
  }
  const mul = (a: number, b: number): number => (a && b ? exp[((log[a] as number) + (log[b] as number)) % 255] as number : 0);
  for (let i = 0; i < 256; i++) {
    const inv = i === 0 ? 0 : (exp[(255 - (log[i] as number)) % 255] as number);
    let s = inv;
    for (let r = 1; r < 5; r++) s ^= ((inv << r) | (inv >>> (8 - r))) & 0xff;
    s ^= 0x63;
    SBOX[i] = s;
    INV_SBOX[s] = i;
  }
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i] as number;
    const e = (mul(s, 2) << 24) | (s << 16) | (s << 8) | mul(s, 3);
    const v = INV_SBOX[i] as number;
    const d = (mul(v, 14) << 24) | (mul(v, 9) << 16) | (mul(v, 13) << 8) | mul(v, 11);
    // Table t is table 0 rotated right by t bytes.
    for (let t = 0; t < 4; t++) {
      (TE[t] as Uint32Array)[i] = rotateRight(e, 8 * t);
      (TD[t] as Uint32Array)[i] = rotateRight(d, 8 * t);
    }
  }
})();

function rotateRight(x: number, bits: number): number {
  return bits === 0 ? x >>> 0 : ((x >>> bits) | (x << (32 - bits))) >>> 0;
}

const ROUNDS = 14;
const RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40];

/** The 60-word encryption key schedule of a 32-byte key. */
export function expandKey(key: Uint8Array): Uint32Array {
  const w = new Uint32Array(4 * (ROUNDS + 1));
  for (let i = 0; i < 8; i++) {
    w[i] = (((key[4 * i] as number) << 24) | ((key[4 * i + 1] as number) << 16) | ((key[4 * i + 2] as number) << 8) | (key[4 * i + 3] as number)) >>> 0;
  }
  for (let i = 8; i < w.length; i++) {
    let t = w[i - 1] as number;
    if (i % 8 === 0) {
      t = subWord((t << 8) | (t >>> 24)) ^ ((RCON[i / 8 - 1] as number) << 24);
    } else if (i % 8 === 4) {
      t = subWord(t);
    }
    w[i] = ((w[i - 8] as number) ^ t) >>> 0;
  }
  return w;
}

/** The equivalent-inverse-cipher schedule: rounds reversed, InvMixColumns on the middle ones. */
export function expandDecryptKey(key: Uint8Array): Uint32Array {
  const enc = expandKey(key);
  const dec = new Uint32Array(enc.length);
  for (let round = 0; round <= ROUNDS; round++) {
    for (let c = 0; c < 4; c++) {
      const word = enc[4 * (ROUNDS - round) + c] as number;
      dec[4 * round + c] = round === 0 || round === ROUNDS ? word : invMixColumn(word);
    }
  }
  return dec;
}

function subWord(x: number): number {
  return (
    (((SBOX[x >>> 24] as number) << 24) |
      ((SBOX[(x >>> 16) & 0xff] as number) << 16) |
      ((SBOX[(x >>> 8) & 0xff] as number) << 8) |
      (SBOX[x & 0xff] as number)) >>>
    0
  );
}

function invMixColumn(x: number): number {
  // TD tables combine InvSubBytes and InvMixColumns; feeding them SBOX[b] cancels the former.
  return (
    ((TD[0][SBOX[x >>> 24] as number] as number) ^
      (TD[1][SBOX[(x >>> 16) & 0xff] as number] as number) ^
      (TD[2][SBOX[(x >>> 8) & 0xff] as number] as number) ^
      (TD[3][SBOX[x & 0xff] as number] as number)) >>>
    0
  );
}

/** Encrypts (`inverse` false, with expandKey) or decrypts (true, with expandDecryptKey) one block. */
export function cryptBlock(schedule: Uint32Array, input: Uint8Array, output: Uint8Array, inverse: boolean): void {
  if (inverse) decryptRounds(schedule, input, output);
  else encryptRounds(schedule, input, output);
}

// The two round loops differ only in tables and in which neighbour column each
// byte comes from (ShiftRows left vs InvShiftRows right); they are written out
// in full because closures or temporary arrays here cost more than the AES.
function encryptRounds(k: Uint32Array, input: Uint8Array, output: Uint8Array): void {
  const [T0, T1, T2, T3] = TE;
  let s0 = readWord(input, 0) ^ (k[0] as number);
  let s1 = readWord(input, 4) ^ (k[1] as number);
  let s2 = readWord(input, 8) ^ (k[2] as number);
  let s3 = readWord(input, 12) ^ (k[3] as number);
  for (let o = 4; o < 4 * ROUNDS; o += 4) {
    const t0 = (T0[s0 >>> 24] as number) ^ (T1[(s1 >>> 16) & 0xff] as number) ^ (T2[(s2 >>> 8) & 0xff] as number) ^ (T3[s3 & 0xff] as number) ^ (k[o] as number);
    const t1 = (T0[s1 >>> 24] as number) ^ (T1[(s2 >>> 16) & 0xff] as number) ^ (T2[(s3 >>> 8) & 0xff] as number) ^ (T3[s0 & 0xff] as number) ^ (k[o + 1] as number);
    const t2 = (T0[s2 >>> 24] as number) ^ (T1[(s3 >>> 16) & 0xff] as number) ^ (T2[(s0 >>> 8) & 0xff] as number) ^ (T3[s1 & 0xff] as number) ^ (k[o + 2] as number);
    const t3 = (T0[s3 >>> 24] as number) ^ (T1[(s0 >>> 16) & 0xff] as number) ^ (T2[(s1 >>> 8) & 0xff] as number) ^ (T3[s2 & 0xff] as number) ^ (k[o + 3] as number);
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  const o = 4 * ROUNDS;
  writeWord(output, 0, lastRound(SBOX, s0, s1, s2, s3) ^ (k[o] as number));
  writeWord(output, 4, lastRound(SBOX, s1, s2, s3, s0) ^ (k[o + 1] as number));
  writeWord(output, 8, lastRound(SBOX, s2, s3, s0, s1) ^ (k[o + 2] as number));
  writeWord(output, 12, lastRound(SBOX, s3, s0, s1, s2) ^ (k[o + 3] as number));
}

function decryptRounds(k: Uint32Array, input: Uint8Array, output: Uint8Array): void {
  const [T0, T1, T2, T3] = TD;
  let s0 = readWord(input, 0) ^ (k[0] as number);
  let s1 = readWord(input, 4) ^ (k[1] as number);
  let s2 = readWord(input, 8) ^ (k[2] as number);
  let s3 = readWord(input, 12) ^ (k[3] as number);
  for (let o = 4; o < 4 * ROUNDS; o += 4) {
    const t0 = (T0[s0 >>> 24] as number) ^ (T1[(s3 >>> 16) & 0xff] as number) ^ (T2[(s2 >>> 8) & 0xff] as number) ^ (T3[s1 & 0xff] as number) ^ (k[o] as number);
    const t1 = (T0[s1 >>> 24] as number) ^ (T1[(s0 >>> 16) & 0xff] as number) ^ (T2[(s3 >>> 8) & 0xff] as number) ^ (T3[s2 & 0xff] as number) ^ (k[o + 1] as number);
    const t2 = (T0[s2 >>> 24] as number) ^ (T1[(s1 >>> 16) & 0xff] as number) ^ (T2[(s0 >>> 8) & 0xff] as number) ^ (T3[s3 & 0xff] as number) ^ (k[o + 2] as number);
    const t3 = (T0[s3 >>> 24] as number) ^ (T1[(s2 >>> 16) & 0xff] as number) ^ (T2[(s1 >>> 8) & 0xff] as number) ^ (T3[s0 & 0xff] as number) ^ (k[o + 3] as number);
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  const o = 4 * ROUNDS;
  writeWord(output, 0, lastRound(INV_SBOX, s0, s3, s2, s1) ^ (k[o] as number));
  writeWord(output, 4, lastRound(INV_SBOX, s1, s0, s3, s2) ^ (k[o + 1] as number));
  writeWord(output, 8, lastRound(INV_SBOX, s2, s1, s0, s3) ^ (k[o + 2] as number));
  writeWord(output, 12, lastRound(INV_SBOX, s3, s2, s1, s0) ^ (k[o + 3] as number));
}

function lastRound(box: Uint8Array, a: number, b: number, c: number, d: number): number {
  return (
    ((box[a >>> 24] as number) << 24) |
    ((box[(b >>> 16) & 0xff] as number) << 16) |
    ((box[(c >>> 8) & 0xff] as number) << 8) |
    (box[d & 0xff] as number)
  );
}

function writeWord(b: Uint8Array, at: number, word: number): void {
  b[at] = word >>> 24;
  b[at + 1] = (word >>> 16) & 0xff;
  b[at + 2] = (word >>> 8) & 0xff;
  b[at + 3] = word & 0xff;
}

function readWord(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}
