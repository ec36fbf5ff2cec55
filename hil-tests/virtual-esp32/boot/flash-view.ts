// Flash as the CPU sees it through the cache MMU (spec esp32-rom-efuse-crypto.md §4, §5.5):
// plain bytes, or — when FLASH_CRYPT_CNT has an odd popcount — decrypted with the BLK1 key the
// hardware holds (even when RD_DIS hides it from software) and the FLASH_CRYPT_CONFIG tweak.
import { decryptFlash, encryptFlash } from '../../../firmware-js/flash-encryption/index.ts';
import type { EfuseController } from '../efuse-controller.ts';
import type { NorFlash } from '../nor-flash.ts';
import type { FirmwareFlash } from '../firmware-host.ts';
import { FLASH_SECTOR } from '../targets/esp32.ts';
import { SimError } from '../errors.ts';

export interface FlashView {
  readonly size: number;
  readonly encrypted: boolean;
  read(offset: number, length: number): Uint8Array;
}

export function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v &= v - 1) c++;
  return c;
}

export function flashEncryptionEnabled(efuse: EfuseController): boolean {
  return popcount(efuse.hardwareField('FLASH_CRYPT_CNT')) % 2 === 1;
}

/** The AES key the engine uses, in key-file byte order (what espsecure takes). */
export function hardwareFlashKey(efuse: EfuseController): Uint8Array {
  const words = efuse.hardwareBlockWords(1);
  const le = new Uint8Array(words.length * 4);
  const dv = new DataView(le.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  // burn-key reverses the key file into the block, so reversing the block's bytes gives it back (§3.6).
  return le.reverse();
}

export function flashEncryptor(efuse: EfuseController): (data: Uint8Array, address: number) => Uint8Array {
  const key = hardwareFlashKey(efuse);
  const conf = efuse.hardwareField('FLASH_CRYPT_CONFIG');
  return (data, address) => {
    const start = address & ~31;
    const padded = new Uint8Array(Math.ceil((address - start + data.length) / 32) * 32).fill(0xff);
    padded.set(data, address - start);
    return encryptFlash(padded, start, key, conf).subarray(address - start, address - start + data.length);
  };
}

export function cpuFlashView(flash: NorFlash, efuse: EfuseController): FlashView {
  if (!flashEncryptionEnabled(efuse)) {
    return { size: flash.size, encrypted: false, read: (o, l) => flash.read(o, Math.min(l, flash.size - o)) };
  }
  const key = hardwareFlashKey(efuse);
  const conf = efuse.hardwareField('FLASH_CRYPT_CONFIG');
  return {
    size: flash.size,
    encrypted: true,
    read(offset, length) {
      const len = Math.min(length, flash.size - offset);
      const start = offset & ~31;
      const end = Math.min(flash.size, Math.ceil((offset + len) / 32) * 32);
      const plain = decryptFlash(flash.read(start, end - start), start, key, conf);
      return plain.slice(offset - start, offset - start + len);
    },
  };
}

/**
 * Flash as app code reads and writes it through the cache (§4): reads decrypt and writes
 * encrypt when encryption is on, as `esp_flash_write_encrypted` does; `writeRaw` is the
 * plain `esp_flash_write` that unencrypted partitions use.
 */
export function appFlash(flash: NorFlash, efuse: EfuseController): FirmwareFlash {
  const view = cpuFlashView(flash, efuse);
  const encrypt = view.encrypted ? flashEncryptor(efuse) : undefined;
  return {
    size: flash.size,
    encrypted: view.encrypted,
    read: (offset, length) => view.read(offset, length),
    readRaw: (offset, length) => flash.read(offset, length),
    write(offset, data) {
      if (!encrypt) return flash.program(offset, data);
      if (offset % 16 !== 0 || data.length % 16 !== 0) {
        throw new SimError(
          'sim.flash.unaligned_encrypted_write',
          `encrypted write 0x${offset.toString(16)}+0x${data.length.toString(16)} is not 16-byte aligned`,
          { hint: 'esp_flash_write_encrypted needs address and length in multiples of 16' },
        );
      }
      flash.program(offset, encrypt(data, offset));
    },
    writeRaw: (offset, data) => flash.program(offset, data),
    erase(offset, length) {
      checkEraseRange(offset, length);
      flash.eraseCovering(offset, length);
    },
  };
}

/** Checks an erase range the way esp_flash_erase_region does: whole sectors only. */
function checkEraseRange(offset: number, length: number): void {
  if (offset % FLASH_SECTOR !== 0 || length % FLASH_SECTOR !== 0) {
    throw new SimError('sim.flash.unaligned_erase', `erase 0x${offset.toString(16)}+0x${length.toString(16)} is not 4 KiB aligned`);
  }
}
