// Patches an image's flash mode/size/frequency (header bytes 2–3) the way esptool
// does for the bootloader at 0x1000, and recomputes the appended SHA-256 — without
// that every verifier rejects the image (spec esp32-rom-efuse-crypto.md §6.1, §7 trap 13).
// Whether the ESP32 ROM itself checks the appended hash is unconfirmed [U]; IDF's
// esp_image_verify_bootloader does, so the hash is always rewritten either way.
import { createHash } from 'node:crypto';
import { FirmwareError } from '../errors.ts';
import { FLASH_FREQS, FLASH_MODES, FLASH_SIZES, SHA256_LENGTH, type FlashFreq, type FlashMode, type FlashSize } from './header.ts';
import { verifyImage } from './parse-image.ts';

export interface FlashParams {
  mode?: FlashMode;
  size?: FlashSize;
  freq?: FlashFreq;
}

/**
 * Returns a copy of `image` with new flash parameters (omitted ones kept). Unlike
 * esptool, which rehashes whatever it is given, this refuses an image whose checksum
 * or hash is already wrong: rehashing would make a corrupt image look valid.
 * Bytes after the image (e.g. 0xFF padding) are kept as they are.
 */
export function setFlashParams(image: Uint8Array, params: FlashParams): Uint8Array {
  const parsed = verifyImage(image);
  const out = Uint8Array.from(image); // a copy even when a Buffer comes in (Buffer.slice is a view)
  if (params.mode !== undefined) {
    const mode = FLASH_MODES.indexOf(params.mode);
    if (mode < 0) throw badParam('mode', params.mode, FLASH_MODES);
    out[2] = mode;
  }
  let sizeNibble = (out[3] as number) >> 4;
  let freqNibble = (out[3] as number) & 0xf;
  if (params.size !== undefined) {
    sizeNibble = FLASH_SIZES.indexOf(params.size);
    if (sizeNibble < 0) throw badParam('size', params.size, FLASH_SIZES);
  }
  if (params.freq !== undefined) {
    const f = FLASH_FREQS[params.freq] as number | undefined;
    if (f === undefined) throw badParam('freq', params.freq, Object.keys(FLASH_FREQS));
    freqNibble = f;
  }
  out[3] = (sizeNibble << 4) | freqNibble;
  if (parsed.sha256) {
    const hashAt = parsed.length - SHA256_LENGTH;
    out.set(createHash('sha256').update(out.subarray(0, hashAt)).digest(), hashAt);
  }
  return out;
}

function badParam(name: string, value: string, allowed: readonly string[]): FirmwareError {
  return new FirmwareError('firmware.image.bad_flash_params', `unknown flash ${name} ${JSON.stringify(value)}`, {
    hint: `use one of ${allowed.join(', ')}`,
  });
}
