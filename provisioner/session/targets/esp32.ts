// What the board session knows about the original ESP32, as data (STYLE.md lesson 4):
// registers, eFuse fields, revision and package tables, flash size codes. Sources:
// shared/spec/esp32-rom-efuse-crypto.md §1.12, §2, §3.2. Nothing else hard-codes these.

export const ESP32 = {
  name: 'ESP32' as const,
  /** CHIP_DETECT_MAGIC_REG value of every ESP32 revision (§2). */
  magic: 0x00f01d83,
  reg: {
    chipDetectMagic: 0x40001000,
    efuseBlk0: 0x3ff5a000,
    apbCtlDate: 0x3ff6607c,
    uartClkdiv: 0x3ff40014,
  },
  /** BLK0 read words 0..6 (RDATA0..RDATA6). */
  efuseBlk0Words: 7,
  flashSector: 0x1000,
  romBaud: 115200,
} as const;

/** A bit field inside one BLK0 word (§3.2). */
export interface EfuseField {
  word: number;
  lsb: number;
  width: number;
}

export const BLK0 = {
  WR_DIS: { word: 0, lsb: 0, width: 16 },
  RD_DIS: { word: 0, lsb: 16, width: 4 },
  FLASH_CRYPT_CNT: { word: 0, lsb: 20, width: 7 },
  UART_DOWNLOAD_DIS: { word: 0, lsb: 27, width: 1 },
  DISABLE_APP_CPU: { word: 3, lsb: 0, width: 1 },
  DISABLE_BT: { word: 3, lsb: 1, width: 1 },
  CHIP_PACKAGE_4BIT: { word: 3, lsb: 2, width: 1 },
  CHIP_PACKAGE: { word: 3, lsb: 9, width: 3 },
  CHIP_CPU_FREQ_LOW: { word: 3, lsb: 12, width: 1 },
  CHIP_CPU_FREQ_RATED: { word: 3, lsb: 13, width: 1 },
  BLK3_PART_RESERVE: { word: 3, lsb: 14, width: 1 },
  CHIP_VER_REV1: { word: 3, lsb: 15, width: 1 },
  ADC_VREF: { word: 4, lsb: 8, width: 5 },
  CHIP_VER_REV2: { word: 5, lsb: 20, width: 1 },
  WAFER_VERSION_MINOR: { word: 5, lsb: 24, width: 2 },
  FLASH_CRYPT_CONFIG: { word: 5, lsb: 28, width: 4 },
  CODING_SCHEME: { word: 6, lsb: 0, width: 2 },
  JTAG_DISABLE: { word: 6, lsb: 6, width: 1 },
  DISABLE_DL_ENCRYPT: { word: 6, lsb: 7, width: 1 },
  DISABLE_DL_DECRYPT: { word: 6, lsb: 8, width: 1 },
  DISABLE_DL_CACHE: { word: 6, lsb: 9, width: 1 },
} as const satisfies Record<string, EfuseField>;

/** WR_DIS / RD_DIS bits that protect the flash-encryption key block BLK1 (§3.1). */
export const BLK1_WR_DIS_BIT = 7;
export const BLK1_RD_DIS_BIT = 0;

/** APB_CTL_DATE bit 31 is the third major-revision bit (§2). */
export const APB_CTL_DATE_REV_BIT = 31;

/** (bit2 bit1 bit0) → major revision, as esptool maps it; anything else is 0 (§2). */
export const MAJOR_REVISION_BY_BITS: Readonly<Record<number, number>> = { 0: 0, 1: 1, 3: 2, 7: 3 };

/** Package names by the 4-bit package code (§2); variants depend on single-core and v3. */
export const PACKAGES: Readonly<Record<number, { name: string; singleCore?: string; v3?: string; embeddedFlash?: boolean; embeddedPsram?: boolean }>> = {
  0: { name: 'ESP32-D0WDQ6', singleCore: 'ESP32-S0WDQ6', v3: 'ESP32-D0WDQ6-V3' },
  1: { name: 'ESP32-D0WD', singleCore: 'ESP32-S0WD', v3: 'ESP32-D0WD-V3' },
  2: { name: 'ESP32-D2WD', embeddedFlash: true },
  4: { name: 'ESP32-U4WDH', embeddedFlash: true },
  5: { name: 'ESP32-PICO-D4', v3: 'ESP32-PICO-V3', embeddedFlash: true },
  6: { name: 'ESP32-PICO-V3-02', embeddedFlash: true, embeddedPsram: true },
  7: { name: 'ESP32-D0WDR2-V3' },
};

export const CODING_SCHEMES = ['none', '3/4', 'repeat', 'none'] as const;
export type CodingScheme = (typeof CODING_SCHEMES)[number];

/** JEDEC capacity byte → flash size in bytes (§1.12; 0x3x codes are another vendor's numbering). */
export function flashSizeFromJedec(jedecId: number): number | null {
  const code = (jedecId >>> 16) & 0xff;
  if (code >= 0x12 && code <= 0x1c) return 1 << code;
  if (code >= 0x20 && code <= 0x22) return 1 << (code - 0x20 + 26);
  if (code >= 0x32 && code <= 0x3a) return 1 << (code - 0x32 + 18);
  return null;
}

/** The crystal is estimated from the ROM's UART divider at a known baud, then snapped (§2). */
export function crystalFromClkdiv(clkdiv: number, baud: number): 40 | 26 {
  const mhz = ((clkdiv & 0xfffff) * baud) / 1e6;
  return mhz > 33 ? 40 : 26;
}

export function readField(words: readonly number[], f: EfuseField): number {
  const word = words[f.word] ?? 0;
  const mask = f.width === 32 ? 0xffffffff : (1 << f.width) - 1;
  return (word >>> f.lsb) & mask;
}
