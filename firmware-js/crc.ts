// CRCs the ESP32 formats use: CRC-32 with zlib seed semantics (otadata, spec
// esp32-rom-efuse-crypto.md §6.4) and CRC-8/Maxim over the factory MAC (§2).

const CRC32_TABLE = buildCrc32Table();

function buildCrc32Table(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * CRC-32/IEEE exactly as zlib's `crc32(seed, buf, len)` and Python's
 * `binascii.crc32(buf, seed)`: the seed is a previous CRC *result*, so it is
 * inverted on the way in. `crc32(b, 0xFFFFFFFF)` is therefore not the plain
 * CRC-32 of `b` — that is what ESP-IDF's `esp_rom_crc32_le(UINT32_MAX, …)`
 * computes for otadata.
 */
export function crc32(bytes: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    c = (CRC32_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/** CRC-8/Maxim (Dallas 1-Wire): reflected polynomial 0x8C, init 0, as the ESP32 eFuse MAC CRC. */
export function crc8Maxim(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i] as number;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x8c : crc >>> 1;
  }
  return crc;
}
