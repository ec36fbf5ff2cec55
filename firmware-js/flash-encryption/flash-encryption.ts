// ESP32 flash encryption as the chip's engine and espsecure's
// `encrypt-flash-data` do it (spec esp32-rom-efuse-crypto.md §4): per 32-byte block
// a tweaked AES-256 key; each 16-byte half is byte-reversed, run through AES
// *decryption* to encrypt (and encryption to decrypt), and reversed back.
import { FirmwareError } from '../errors.ts';
import { cryptBlock, expandDecryptKey, expandKey } from './aes256.ts';
import { tweakKey } from './tweak.ts';

export const DEFAULT_FLASH_CRYPT_CONFIG = 0xf;
/** The highest address the tweak covers: address bits above 23 are ignored by the scheme. */
const TWEAK_ADDRESS_LIMIT = 1 << 24;

/** Encrypts `data` as it would be stored at flash `address`. */
export function encryptFlash(
  data: Uint8Array,
  address: number,
  key: Uint8Array,
  flashCryptConfig = DEFAULT_FLASH_CRYPT_CONFIG,
): Uint8Array {
  return transform(data, address, key, flashCryptConfig, 'encrypt');
}

/** Decrypts `data` read raw from flash `address` (what the cache MMU returns to the CPU). */
export function decryptFlash(
  data: Uint8Array,
  address: number,
  key: Uint8Array,
  flashCryptConfig = DEFAULT_FLASH_CRYPT_CONFIG,
): Uint8Array {
  return transform(data, address, key, flashCryptConfig, 'decrypt');
}

/**
 * A 24-byte key (3/4 coding scheme) is used as `key || key[8:16]`; this is what
 * espsecure calls the hardware's algorithm — not confirmed on silicon (spec §3.4 [U]).
 */
export function expandFlashKey(key: Uint8Array): Uint8Array {
  if (key.length === 32) return key;
  if (key.length === 24) {
    const full = new Uint8Array(32);
    full.set(key, 0);
    full.set(key.subarray(8, 16), 24);
    return full;
  }
  throw new FirmwareError(
    'firmware.flash_encryption.bad_key_length',
    `a flash-encryption key is 32 bytes (or 24 under 3/4 coding), got ${key.length}`,
    { hint: 'use a 256-bit key file, e.g. from `espfleet keystore export`' },
  );
}

function transform(
  data: Uint8Array,
  address: number,
  key: Uint8Array,
  flashCryptConfig: number,
  direction: 'encrypt' | 'decrypt',
): Uint8Array {
  const fullKey = expandFlashKey(key);
  checkArguments(data, address, flashCryptConfig);
  const out = new Uint8Array(data.length);
  const reversed = new Uint8Array(16);
  const result = new Uint8Array(16);
  // The chip runs AES "inverted": encrypting for flash is an AES decryption.
  const inverse = direction === 'encrypt';
  for (let offset = 0; offset < data.length; offset += 32) {
    const aesKey = tweakKey(fullKey, address + offset, flashCryptConfig);
    const schedule = inverse ? expandDecryptKey(aesKey) : expandKey(aesKey);
    for (let h = offset; h < Math.min(offset + 32, data.length); h += 16) {
      reverseInto(data.subarray(h, h + 16), reversed);
      cryptBlock(schedule, reversed, result, inverse);
      reverseInto(result, out.subarray(h, h + 16));
    }
  }
  return out;
}

function reverseInto(src: Uint8Array, dst: Uint8Array): void {
  for (let i = 0; i < 16; i++) dst[i] = src[15 - i] as number;
}

function checkArguments(data: Uint8Array, address: number, flashCryptConfig: number): void {
  if (!Number.isInteger(address) || address < 0 || address % 16 !== 0) {
    throw new FirmwareError(
      'firmware.flash_encryption.bad_address',
      `flash-encryption address must be a non-negative multiple of 16, got ${address}`,
      { hint: 'encrypted writes start on a 32-byte boundary; use the partition or image offset' },
    );
  }
  if (address + data.length > TWEAK_ADDRESS_LIMIT) {
    throw new FirmwareError(
      'firmware.flash_encryption.address_out_of_range',
      `flash encryption covers the first 16 MiB; 0x${address.toString(16)} + ${data.length} bytes goes beyond it`,
    );
  }
  if (data.length % 16 !== 0) {
    throw new FirmwareError(
      'firmware.flash_encryption.bad_length',
      `data to encrypt must be a multiple of 16 bytes, got ${data.length}`,
      { hint: 'pad with 0xFF to a multiple of 32 bytes (what the chip writes)' },
    );
  }
  if (!Number.isInteger(flashCryptConfig) || flashCryptConfig < 0 || flashCryptConfig > 0xf) {
    throw new FirmwareError(
      'firmware.flash_encryption.bad_config',
      `FLASH_CRYPT_CONFIG is a 4-bit value (0..0xF), got ${flashCryptConfig}`,
    );
  }
}

/** Pads to a multiple of 32 bytes with 0xFF, as erased flash reads, so output is reproducible. */
export function padForEncryption(data: Uint8Array): Uint8Array {
  const padded = Math.ceil(data.length / 32) * 32;
  if (padded === data.length) return data;
  const out = new Uint8Array(padded).fill(0xff);
  out.set(data);
  return out;
}
