// Which key a board's flash is encrypted with, when BLK1 is read-protected and cannot be
// compared (spec esp32-rom-efuse-crypto.md §3.5, §4, §5.5): download-mode reads return raw
// flash, so the bootloader's first 32 bytes at 0x1000 are read raw and decrypted on the
// host with the candidate key. An ESP32 image header (magic 0xE9, 1-16 segments, a valid
// SPI mode, chip id 0) after decryption means the flash was encrypted with that key;
// random ciphertext passes that test with probability about 2^-30.
import { decryptFlash, expandFlashKey } from '../../firmware-js/flash-encryption/index.ts';

export const BOOTLOADER_ADDRESS = 0x1000;

/**
 * match: the bootloader decrypts with the key · plaintext: an unencrypted bootloader is
 * there · blank: erased flash · mismatch: ciphertext under another key (or garbage).
 */
export type KeyEvidence = 'match' | 'plaintext' | 'blank' | 'mismatch';

export function looksLikeImageHeader(b: Uint8Array): boolean {
  return b[0] === 0xe9 && (b[1] ?? 0) >= 1 && (b[1] ?? 0) <= 16 && (b[2] ?? 0xff) <= 3 && b[12] === 0 && b[13] === 0;
}

export function judgeBootloaderSector(raw: Uint8Array, key: Uint8Array, flashCryptConfig: number): KeyEvidence {
  if (raw.every((b) => b === 0xff)) return 'blank';
  if (looksLikeImageHeader(raw)) return 'plaintext';
  const plain = decryptFlash(raw.subarray(0, 32), BOOTLOADER_ADDRESS, expandFlashKey(key), flashCryptConfig);
  return looksLikeImageHeader(plain) ? 'match' : 'mismatch';
}

export async function keyEvidence(
  board: { readFlash(address: number, length: number): Promise<Uint8Array> },
  key: Uint8Array,
  flashCryptConfig: number,
): Promise<KeyEvidence> {
  return judgeBootloaderSector(await board.readFlash(BOOTLOADER_ADDRESS, 32), key, flashCryptConfig);
}
