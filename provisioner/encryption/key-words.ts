// Key file ↔ BLK1 data words (spec esp32-rom-efuse-crypto.md §3.6): `burn_key
// flash_encryption` reverses the file, so RDATA0 is the last four key bytes big-endian.
// Also the 24-byte keys of the 3/4 coding scheme (six words, §3.4).
import { blk1WordsToKeyFile, keyFileToBlk1Words } from '../../firmware-js/flash-encryption/index.ts';

export function keyToBlockWords(key: Uint8Array): number[] {
  if (key.length === 32) return Array.from(keyFileToBlk1Words(key));
  if (key.length !== 24) throw new RangeError(`a flash-encryption key is 32 or 24 bytes, got ${key.length}`);
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return Array.from({ length: 6 }, (_, i) => dv.getUint32(20 - 4 * i, false));
}

export function blockWordsToKey(words: readonly number[]): Uint8Array {
  if (words.length === 8) return blk1WordsToKeyFile(words);
  const key = new Uint8Array(24);
  const dv = new DataView(key.buffer);
  words.forEach((w, i) => dv.setUint32(20 - 4 * i, w >>> 0, false));
  return key;
}
