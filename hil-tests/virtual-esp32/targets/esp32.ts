// Everything the virtual ESP32 knows about the original ESP32 as data: register
// addresses, eFuse layout, ROM strings and magic values (spec esp32-rom-efuse-crypto.md §1–§3).
// Code elsewhere reads these tables; nothing else hard-codes chip facts.

/** Chip detection word read at CHIP_DETECT_MAGIC_REG (§2). */
export const ESP32_MAGIC = 0x00f01d83;

export const REG = {
  chipDetectMagic: 0x40001000,
  efuseBase: 0x3ff5a000,
  apbCtlDate: 0x3ff6607c,
  uartClkdiv: 0x3ff40014,
  rtcCaliCfg1: 0x3ff5f06c,
  gpioStrap: 0x3ff44038,
  rtcCntlSdioConf: 0x3ff48074,
  /** esptool's dummy WRITE_REG target used only to get a post-write delay. */
  uartDate: 0x60000078,
  spi1Base: 0x3ff42000,
} as const;

/** SPI1 user-command registers, offsets from REG.spi1Base (§1.12). */
export const SPI1 = {
  cmd: 0x00,
  addr: 0x04,
  user: 0x1c,
  user1: 0x20,
  user2: 0x24,
  mosiDlen: 0x28,
  misoDlen: 0x2c,
  w0: 0x80,
  /** CMD bit 18: start a user command; the hardware clears it when done. */
  cmdUsr: 1 << 18,
} as const;

/** eFuse controller registers, offsets from REG.efuseBase (§3.1). */
export const EFUSE = {
  clk: 0x0f8,
  conf: 0x0fc,
  status: 0x100,
  cmd: 0x104,
  dacConf: 0x118,
  decStatus: 0x11c,
  regionSize: 0x120,
  confProgram: 0x5a5a,
  confRead: 0x5aa5,
  cmdRead: 0x1,
  cmdProgram: 0x2,
} as const;

export interface EfuseBlockInfo {
  index: number;
  readOffset: number;
  writeOffset: number;
  words: number;
  /** WR_DIS bit that protects the whole block (null for BLK0: per field). */
  wrDisBit: number | null;
  /** RD_DIS bit that hides the whole block (null for BLK0: per field). */
  rdDisBit: number | null;
}

export const EFUSE_BLOCKS: readonly EfuseBlockInfo[] = [
  { index: 0, readOffset: 0x000, writeOffset: 0x01c, words: 7, wrDisBit: null, rdDisBit: null },
  { index: 1, readOffset: 0x038, writeOffset: 0x098, words: 8, wrDisBit: 7, rdDisBit: 0 },
  { index: 2, readOffset: 0x058, writeOffset: 0x0b8, words: 8, wrDisBit: 8, rdDisBit: 1 },
  { index: 3, readOffset: 0x078, writeOffset: 0x0d8, words: 8, wrDisBit: 9, rdDisBit: 2 },
];

export interface EfuseField {
  name: string;
  word: number;
  lsb: number;
  width: number;
  wrDis: number | null;
  rdDis: number | null;
}

/** BLK0 fields with their protection bits (§3.2, espefuse esp32.yaml). */
export const BLK0_FIELDS: readonly EfuseField[] = [
  { name: 'WR_DIS', word: 0, lsb: 0, width: 16, wrDis: 1, rdDis: null },
  { name: 'RD_DIS', word: 0, lsb: 16, width: 4, wrDis: 0, rdDis: null },
  { name: 'FLASH_CRYPT_CNT', word: 0, lsb: 20, width: 7, wrDis: 2, rdDis: null },
  { name: 'UART_DOWNLOAD_DIS', word: 0, lsb: 27, width: 1, wrDis: 2, rdDis: null },
  { name: 'MAC', word: 1, lsb: 0, width: 32, wrDis: 3, rdDis: null },
  { name: 'MAC_HI', word: 2, lsb: 0, width: 16, wrDis: 3, rdDis: null },
  { name: 'MAC_CRC', word: 2, lsb: 16, width: 8, wrDis: 3, rdDis: null },
  { name: 'DISABLE_APP_CPU', word: 3, lsb: 0, width: 1, wrDis: 3, rdDis: null },
  { name: 'DISABLE_BT', word: 3, lsb: 1, width: 1, wrDis: 3, rdDis: null },
  { name: 'CHIP_PACKAGE_4BIT', word: 3, lsb: 2, width: 1, wrDis: null, rdDis: null },
  { name: 'DIS_CACHE', word: 3, lsb: 3, width: 1, wrDis: 3, rdDis: null },
  { name: 'SPI_PAD_CONFIG_HD', word: 3, lsb: 4, width: 5, wrDis: null, rdDis: null },
  { name: 'CHIP_PACKAGE', word: 3, lsb: 9, width: 3, wrDis: null, rdDis: null },
  { name: 'CHIP_CPU_FREQ_LOW', word: 3, lsb: 12, width: 1, wrDis: null, rdDis: null },
  { name: 'CHIP_CPU_FREQ_RATED', word: 3, lsb: 13, width: 1, wrDis: null, rdDis: null },
  { name: 'BLK3_PART_RESERVE', word: 3, lsb: 14, width: 1, wrDis: 10, rdDis: 3 },
  { name: 'CHIP_VER_REV1', word: 3, lsb: 15, width: 1, wrDis: null, rdDis: null },
  { name: 'CLK8M_FREQ', word: 4, lsb: 0, width: 8, wrDis: 4, rdDis: null },
  { name: 'ADC_VREF', word: 4, lsb: 8, width: 5, wrDis: 4, rdDis: null },
  { name: 'XPD_SDIO_REG', word: 4, lsb: 14, width: 1, wrDis: 5, rdDis: null },
  { name: 'XPD_SDIO_TIEH', word: 4, lsb: 15, width: 1, wrDis: 5, rdDis: null },
  { name: 'XPD_SDIO_FORCE', word: 4, lsb: 16, width: 1, wrDis: 5, rdDis: null },
  { name: 'SPI_PAD_CONFIG', word: 5, lsb: 0, width: 20, wrDis: 6, rdDis: null },
  { name: 'CHIP_VER_REV2', word: 5, lsb: 20, width: 1, wrDis: null, rdDis: null },
  { name: 'VOL_LEVEL_HP_INV', word: 5, lsb: 22, width: 2, wrDis: 3, rdDis: null },
  { name: 'WAFER_VERSION_MINOR', word: 5, lsb: 24, width: 2, wrDis: null, rdDis: null },
  { name: 'FLASH_CRYPT_CONFIG', word: 5, lsb: 28, width: 4, wrDis: 10, rdDis: 3 },
  { name: 'CODING_SCHEME', word: 6, lsb: 0, width: 2, wrDis: 10, rdDis: 3 },
  { name: 'CONSOLE_DEBUG_DISABLE', word: 6, lsb: 2, width: 1, wrDis: 15, rdDis: null },
  { name: 'DISABLE_SDIO_HOST', word: 6, lsb: 3, width: 1, wrDis: null, rdDis: null },
  { name: 'ABS_DONE_0', word: 6, lsb: 4, width: 1, wrDis: 12, rdDis: null },
  { name: 'ABS_DONE_1', word: 6, lsb: 5, width: 1, wrDis: 13, rdDis: null },
  { name: 'JTAG_DISABLE', word: 6, lsb: 6, width: 1, wrDis: 14, rdDis: null },
  { name: 'DISABLE_DL_ENCRYPT', word: 6, lsb: 7, width: 1, wrDis: 15, rdDis: null },
  { name: 'DISABLE_DL_DECRYPT', word: 6, lsb: 8, width: 1, wrDis: 15, rdDis: null },
  { name: 'DISABLE_DL_CACHE', word: 6, lsb: 9, width: 1, wrDis: 15, rdDis: null },
  { name: 'KEY_STATUS', word: 6, lsb: 10, width: 1, wrDis: 10, rdDis: 3 },
];

export function fieldMask(f: EfuseField): number {
  return f.width === 32 ? 0xffffffff : (((1 << f.width) - 1) << f.lsb) >>> 0;
}

/** Revision-dependent facts (§2): which bits make esptool and esptool-js agree on the major version. */
export interface RevisionFacts {
  word3Rev1: boolean;
  word5Rev2: boolean;
  /** APB_CTL_DATE: bit 31 is the third revision bit; v3 value from a real chip (#921). */
  apbCtlDate: number;
  romBanner: string;
}

export const REVISIONS: Record<1 | 3, RevisionFacts> = {
  1: { word3Rev1: true, word5Rev2: false, apbCtlDate: 0x16042000, romBanner: 'ets Jun  8 2016 00:22:57' },
  3: { word3Rev1: true, word5Rev2: true, apbCtlDate: 0x96042000, romBanner: 'ets Jul 29 2019 12:21:46' },
};

/** Strap bits shown as `boot:0x..` (§1.13): GPIO0 high → 0x10; the rest as on a typical dev board. */
export const BOOT_STRAPS = { download: 0x03, flash: 0x13 } as const;

export const ROM_TEXT = {
  powerOnReset: 'rst:0x1 (POWERON_RESET)',
  softwareReset: 'rst:0xc (SW_CPU_RESET)',
  downloadBoot: 'boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))',
  flashBoot: 'boot:0x13 (SPI_FAST_FLASH_BOOT)',
  waiting: 'waiting for download',
} as const;

/**
 * Makes esptool's ROM-mode crystal estimate exactly the nominal crystal so its baud
 * correction factor is 1 (§1.13): estimate = (RTCCALICFG1>>7) × 15625 × CK8M / 40.
 */
export const CLK8M_FREQ_EFUSE = 0x40;
export function rtcCaliCfg1For(xtalMhz: 40 | 26): number {
  const cali = Math.round((xtalMhz * 1e6 * 40) / (15625 * CLK8M_FREQ_EFUSE));
  return (cali << 7) >>> 0;
}

/** JEDEC RDID answer: Winbond manufacturer 0xEF, type 0x40, capacity code log2(size). */
export const FLASH_SIZES = { '4MB': 4 << 20, '8MB': 8 << 20, '16MB': 16 << 20 } as const;
export type FlashSizeName = keyof typeof FLASH_SIZES;
export function jedecIdFor(sizeBytes: number): number {
  return 0xef | (0x40 << 8) | (Math.log2(sizeBytes) << 16);
}

export const FLASH_SECTOR = 0x1000;

/** Known flasher stubs, told apart by their entry point (§1.9). */
export const STUBS: readonly { entry: number; kind: StubKind; name: string }[] = [
  // esptool-js before 0.6 bundled this legacy stub; 0.7 ships esp-flasher-stub like esptool 5.
  { entry: 0x400be5ec, kind: 'legacy', name: 'legacy stub (esptool-js stub_flasher_32)' },
  { entry: 0x400be658, kind: 'legacy', name: 'legacy stub (esptool stub_flasher/1)' },
  { entry: 0x400a902c, kind: 'esp-flasher-stub', name: 'esp-flasher-stub (esptool stub_flasher/2, esptool-js 0.7)' },
];
export type StubKind = 'legacy' | 'esp-flasher-stub';
/** Where the stubs' text lives, so an unknown entry inside it can still be told apart from garbage. */
export const STUB_TEXT_RANGES: readonly [number, number][] = [
  [0x400a8000, 0x400c0000],
];

export const OPCODES = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
  FLASH_ENCRYPT_DATA: 0xd4,
} as const;
export type OpcodeName = keyof typeof OPCODES;
export function opcodeName(op: number): string {
  for (const [name, code] of Object.entries(OPCODES)) if (code === op) return name;
  return `0x${op.toString(16).padStart(2, '0')}`;
}

/** ROM error codes (second status byte, §1.6). */
export const ROM_ERR = {
  invalidMessage: 0x05,
  failedToAct: 0x06,
  badChecksum: 0x07,
  flashWrite: 0x08,
  flashRead: 0x09,
  readLength: 0x0a,
  deflate: 0x0b,
} as const;

/** Stub error codes (first status byte, §1.6; same values in esp-flasher-stub's big-endian u16). */
export const STUB_ERR = {
  badDataLen: 0xc0,
  badChecksum: 0xc1,
  badBlockSize: 0xc2,
  invalidCommand: 0xc3,
  failedSpiOp: 0xc4,
  notInFlashMode: 0xc6,
  inflate: 0xc7,
  notEnoughData: 0xc8,
  tooMuchData: 0xc9,
  notImplemented: 0xff,
} as const;

/** SYNC `value` the ROM answers with (non-zero junk; esptool docs trace). */
export const ROM_SYNC_VALUE = 0x20120707;
export const ROM_BAUD = 115200;
export const RAM_BLOCK = 0x1800;
