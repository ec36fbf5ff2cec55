// The ESP32 flash-encryption key tweak (spec esp32-rom-efuse-crypto.md §4 step 2):
// each 32-byte flash block gets its own AES key, the key file with some of its bits
// XOR-ed with address bits 5..23, as enabled by FLASH_CRYPT_CONFIG.

/** Which address bit flips key bit n (n = 0 is the MSB of key byte 0). */
const TWEAK_PATTERN: readonly number[] = buildPattern();

function buildPattern(): number[] {
  const descending = (from: number): number[] => Array.from({ length: from - 4 }, (_, i) => from - i);
  const pattern: number[] = [];
  for (const last of [14, 12, 10, 8]) {
    for (let r = 0; r < 3; r++) pattern.push(...descending(23));
    pattern.push(...descending(last));
  }
  if (pattern.length !== 256) throw new Error(`tweak pattern has ${pattern.length} entries, expected 256`);
  return pattern;
}

/** Key-bit ranges [first, last] switched on by FLASH_CRYPT_CONFIG bits 0..3. */
const CONFIG_RANGES: readonly (readonly [number, number])[] = [
  [0, 66],
  [67, 131],
  [132, 194],
  [195, 255],
];

const FIRST_ADDRESS_BIT = 5;
const LAST_ADDRESS_BIT = 23;

/**
 * For one FLASH_CRYPT_CONFIG: per address bit 5..23, the 32-byte mask of key bits
 * it flips. Tweaking a key is then one XOR per set address bit, which keeps
 * encrypting a whole app cheap.
 */
const masksByConfig = new Map<number, Uint8Array[]>();

function masksFor(flashCryptConfig: number): Uint8Array[] {
  let masks = masksByConfig.get(flashCryptConfig);
  if (masks) return masks;
  masks = Array.from({ length: LAST_ADDRESS_BIT + 1 }, () => new Uint8Array(32));
  CONFIG_RANGES.forEach(([first, last], configBit) => {
    if (((flashCryptConfig >> configBit) & 1) === 0) return;
    for (let n = first; n <= last; n++) {
      const mask = masks![TWEAK_PATTERN[n] as number] as Uint8Array;
      mask[n >> 3] = (mask[n >> 3] as number) | (0x80 >> (n & 7));
    }
  });
  masksByConfig.set(flashCryptConfig, masks);
  return masks;
}

/** The AES-256 key used for the 32-byte block containing `address`. */
export function tweakKey(key: Uint8Array, address: number, flashCryptConfig: number): Uint8Array {
  // Uint8Array.from, not slice(): Buffer.slice() is a view, and XOR-ing it would change the caller's key.
  const tweaked = Uint8Array.from(key);
  const masks = masksFor(flashCryptConfig);
  for (let bit = FIRST_ADDRESS_BIT; bit <= LAST_ADDRESS_BIT; bit++) {
    if (((address >>> bit) & 1) === 0) continue;
    const mask = masks[bit] as Uint8Array;
    for (let i = 0; i < 32; i++) tweaked[i] = (tweaked[i] as number) ^ (mask[i] as number);
  }
  return tweaked;
}
