// Key file ↔ eFuse BLK1 register words (spec esp32-rom-efuse-crypto.md §3.6):
// `espefuse burn-key flash_encryption` reverses the file, so RDATA0 holds the last
// four key bytes big-endian and RDATA7 the first four.
import { FirmwareError } from '../errors.ts';

/** The eight BLK1 words (RDATA0..RDATA7 / WDATA0..WDATA7) for a 32-byte key file. */
export function keyFileToBlk1Words(key: Uint8Array): Uint32Array {
  if (key.length !== 32) {
    throw new FirmwareError('firmware.flash_encryption.bad_key_length', `BLK1 holds a 32-byte key, got ${key.length} bytes`);
  }
  const words = new Uint32Array(8);
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  for (let i = 0; i < 8; i++) words[i] = dv.getUint32(28 - 4 * i, false);
  return words;
}

/** The key file bytes that `burn-key flash_encryption` would have read to produce these words. */
export function blk1WordsToKeyFile(words: ArrayLike<number>): Uint8Array {
  if (words.length !== 8) {
    throw new FirmwareError('firmware.flash_encryption.bad_key_length', `BLK1 has 8 words, got ${words.length}`);
  }
  const key = new Uint8Array(32);
  const dv = new DataView(key.buffer);
  for (let i = 0; i < 8; i++) dv.setUint32(28 - 4 * i, (words[i] as number) >>> 0, false);
  return key;
}
