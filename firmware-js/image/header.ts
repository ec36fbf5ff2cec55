// ESP32 image header fields and their name tables (spec esp32-rom-efuse-crypto.md
// §6.1), plus the ESP32 memory map used to classify segment load addresses.

export const IMAGE_MAGIC = 0xe9;
export const IMAGE_HEADER_LENGTH = 24;
export const SEGMENT_HEADER_LENGTH = 8;
export const MAX_SEGMENTS = 16;
/** Seed of the XOR checksum over all segment data. */
export const CHECKSUM_SEED = 0xef;
export const SHA256_LENGTH = 32;
/** ESP32 flash MMU page: flash-mapped segments must sit at file offset ≡ vaddr (mod this). */
export const MMU_PAGE_SIZE = 0x10000;
export const WP_PIN_DISABLED = 0xee;
/** The header's chip_id for the original ESP32. */
export const ESP32_CHIP_ID = 0;

export const FLASH_MODES = ['qio', 'qout', 'dio', 'dout'] as const;
export type FlashMode = (typeof FLASH_MODES)[number];

/** High nibble of header byte 3; esptool maps 5–7 beyond what the ESP32 ROM knows. */
export const FLASH_SIZES = ['1MB', '2MB', '4MB', '8MB', '16MB', '32MB', '64MB', '128MB'] as const;
export type FlashSize = (typeof FLASH_SIZES)[number];

/** Low nibble of header byte 3. */
export const FLASH_FREQS = { '40m': 0x0, '26m': 0x1, '20m': 0x2, '80m': 0xf } as const;
export type FlashFreq = keyof typeof FLASH_FREQS;

export function flashModeName(value: number): FlashMode | null {
  return FLASH_MODES[value] ?? null;
}

export function flashSizeName(nibble: number): FlashSize | null {
  return FLASH_SIZES[nibble] ?? null;
}

export function flashSizeBytes(nibble: number): number | null {
  return nibble < FLASH_SIZES.length ? 0x100000 << nibble : null;
}

export function flashFreqName(nibble: number): FlashFreq | null {
  for (const [name, v] of Object.entries(FLASH_FREQS)) if (v === nibble) return name as FlashFreq;
  return null;
}

// Address ranges as esptool's ESP32 MEMORY_MAP names them; ranges overlap on
// purpose (DRAM is also BYTE_ACCESSIBLE), so a segment gets every name that fits.
const MEMORY_MAP: readonly (readonly [number, number, string])[] = [
  [0x00000000, 0x00010000, 'PADDING'],
  [0x3f400000, 0x3f800000, 'DROM'],
  [0x3f800000, 0x3fc00000, 'EXTRAM_DATA'],
  [0x3ff80000, 0x3ff82000, 'RTC_DRAM'],
  [0x3ff90000, 0x40000000, 'BYTE_ACCESSIBLE'],
  [0x3ffae000, 0x40000000, 'DRAM'],
  [0x3ffe0000, 0x3ffffffc, 'DIRAM_DRAM'],
  [0x40000000, 0x40070000, 'IROM'],
  [0x40070000, 0x40078000, 'CACHE_PRO'],
  [0x40078000, 0x40080000, 'CACHE_APP'],
  [0x40080000, 0x400a0000, 'IRAM'],
  [0x400a0000, 0x400bfffc, 'DIRAM_IRAM'],
  [0x400c0000, 0x400c2000, 'RTC_IRAM'],
  [0x400d0000, 0x40400000, 'IROM'],
  [0x50000000, 0x50002000, 'RTC_DATA'],
];

export function memoryTypes(addr: number): string[] {
  return MEMORY_MAP.filter(([lo, hi]) => addr >= lo && addr < hi).map(([, , name]) => name);
}

export const IROM_MAP = { start: 0x400d0000, end: 0x40400000 } as const;
export const DROM_MAP = { start: 0x3f400000, end: 0x3f800000 } as const;

/** True for addresses the cache maps from flash (IROM/DROM): these segments obey the MMU page rule. */
export function isFlashMapped(addr: number): boolean {
  return (addr >= IROM_MAP.start && addr < IROM_MAP.end) || (addr >= DROM_MAP.start && addr < DROM_MAP.end);
}

export function isDromAddr(addr: number): boolean {
  return addr >= DROM_MAP.start && addr < DROM_MAP.end;
}

export function isDramAddr(addr: number): boolean {
  return addr >= 0x3ffae000 && addr < 0x40000000;
}

/** Pin drive strengths: two nibbles per byte in header bytes 9–11 (low nibble first). */
export interface SpiDrive {
  clk: number;
  q: number;
  d: number;
  cs: number;
  hd: number;
  wp: number;
}

export function decodeSpiDrive(b9: number, b10: number, b11: number): SpiDrive {
  return { clk: b9 & 0xf, q: b9 >> 4, d: b10 & 0xf, cs: b10 >> 4, hd: b11 & 0xf, wp: b11 >> 4 };
}

export function encodeSpiDrive(d: SpiDrive): [number, number, number] {
  const j = (lo: number, hi: number) => (lo & 0xf) | ((hi & 0xf) << 4);
  return [j(d.clk, d.q), j(d.d, d.cs), j(d.hd, d.wp)];
}
