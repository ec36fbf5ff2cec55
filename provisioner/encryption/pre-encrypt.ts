// Host pre-encryption of flash regions (spec esp32-rom-efuse-crypto.md §5.4, mongoose-os.md
// §6.3): every region flagged `encrypt` is encrypted at its own address (the ciphertext
// depends on it) with the board's key and FLASH_CRYPT_CONFIG, then written raw.
import { encryptFlash, expandFlashKey } from '../../firmware-js/flash-encryption/index.ts';
import type { WriteRegion } from '../session/index.ts';

export interface PlannedRegion extends WriteRegion {
  /** true: encrypted for flash · false: plaintext (nvs fill, unencrypted data) · null: unknown (raw files) → encrypted. */
  encrypt: boolean | null;
}

export function preEncryptRegions(regions: readonly PlannedRegion[], key: Uint8Array, flashCryptConfig: number): WriteRegion[] {
  const full = expandFlashKey(key);
  return regions.map((r) => {
    if (r.encrypt === false) return { address: r.address, bytes: r.bytes, ...(r.name ? { name: r.name } : {}) };
    // The engine works on 32-byte blocks; pad with 0xFF (erased flash) so output is reproducible.
    const len = Math.ceil(r.bytes.length / 32) * 32;
    let padded = r.bytes;
    if (len !== r.bytes.length) {
      padded = new Uint8Array(len).fill(0xff);
      padded.set(r.bytes);
    }
    return { address: r.address, bytes: encryptFlash(padded, r.address, full, flashCryptConfig), ...(r.name ? { name: r.name } : {}) };
  });
}
