// The ESP32 eFuse map as data (spec esp32-rom-efuse-crypto.md §3.1 blocks and control
// registers, §3.2 BLK0 fields with their WR_DIS/RD_DIS bits, §3.3 timing). It extends the
// BLK0 positions in esp32.ts (spread in, never restated) with protection bits and the
// fields chip-facts does not need.
import { BLK0, ESP32, type EfuseField } from './esp32.ts';

export interface EfuseFieldInfo extends EfuseField {
  name: string;
  /** WR_DIS bit that write-protects the field; null = cannot be protected. */
  wrDis: number | null;
  /** RD_DIS bit that hides the field from RDATA; null = always readable. */
  rdDis: number | null;
  /** espefuse burns these in a second BLK0 pass at the very end (§3.3 step 6). */
  postponed: boolean;
  description: string;
}

function field(name: string, pos: EfuseField, wrDis: number | null, rdDis: number | null, description: string, postponed = false): EfuseFieldInfo {
  return { name, ...pos, wrDis, rdDis, postponed, description };
}

/** Every BLK0 field of §3.2 (MAC split into its two words, as the registers hold it). */
export const EFUSE_FIELDS: readonly EfuseFieldInfo[] = [
  field('WR_DIS', BLK0.WR_DIS, 1, null, 'write protection bits (bit k protects group k)', true),
  field('RD_DIS', BLK0.RD_DIS, 0, null, 'read protection: bit0 BLK1, bit1 BLK2, bit2 BLK3, bit3 coding/crypt config', true),
  field('FLASH_CRYPT_CNT', BLK0.FLASH_CRYPT_CNT, 2, null, 'flash encryption is on when an odd number of bits is set', true),
  field('UART_DOWNLOAD_DIS', BLK0.UART_DOWNLOAD_DIS, 2, null, 'disable UART download mode (v3 silicon only)', true),
  field('MAC', { word: 1, lsb: 0, width: 32 }, 3, null, 'factory MAC, low 32 bits'),
  field('MAC_HI', { word: 2, lsb: 0, width: 16 }, 3, null, 'factory MAC, high 16 bits'),
  field('MAC_CRC', { word: 2, lsb: 16, width: 8 }, 3, null, 'CRC-8 of the factory MAC'),
  field('DISABLE_APP_CPU', BLK0.DISABLE_APP_CPU, 3, null, 'single-core chip'),
  field('DISABLE_BT', BLK0.DISABLE_BT, 3, null, 'Bluetooth disabled'),
  field('CHIP_PACKAGE_4BIT', BLK0.CHIP_PACKAGE_4BIT, null, null, 'package code bit 3'),
  field('DIS_CACHE', { word: 3, lsb: 3, width: 1 }, 3, null, 'disable the flash cache'),
  field('SPI_PAD_CONFIG_HD', { word: 3, lsb: 4, width: 5 }, null, null, 'SPI flash HD pin override'),
  field('CHIP_PACKAGE', BLK0.CHIP_PACKAGE, null, null, 'package code bits 2:0'),
  field('CHIP_CPU_FREQ_LOW', BLK0.CHIP_CPU_FREQ_LOW, null, null, 'rated CPU frequency is 160 MHz'),
  field('CHIP_CPU_FREQ_RATED', BLK0.CHIP_CPU_FREQ_RATED, null, null, 'CPU frequency is rated'),
  field('BLK3_PART_RESERVE', BLK0.BLK3_PART_RESERVE, 10, 3, 'BLK3 partially used for ADC calibration'),
  field('CHIP_VER_REV1', BLK0.CHIP_VER_REV1, null, null, 'revision bit 0'),
  field('CLK8M_FREQ', { word: 4, lsb: 0, width: 8 }, 4, null, '8 MHz oscillator calibration'),
  field('ADC_VREF', BLK0.ADC_VREF, 4, null, 'ADC reference voltage calibration'),
  field('XPD_SDIO_REG', { word: 4, lsb: 14, width: 1 }, 5, null, 'SDIO regulator powered at reset'),
  field('XPD_SDIO_TIEH', { word: 4, lsb: 15, width: 1 }, 5, null, 'SDIO regulator voltage 3.3 V'),
  field('XPD_SDIO_FORCE', { word: 4, lsb: 16, width: 1 }, 5, null, 'ignore MTDI strap for the SDIO regulator'),
  field('SPI_PAD_CONFIG_CLK', { word: 5, lsb: 0, width: 5 }, 6, null, 'SPI flash CLK pin override'),
  field('SPI_PAD_CONFIG_Q', { word: 5, lsb: 5, width: 5 }, 6, null, 'SPI flash Q pin override'),
  field('SPI_PAD_CONFIG_D', { word: 5, lsb: 10, width: 5 }, 6, null, 'SPI flash D pin override'),
  field('SPI_PAD_CONFIG_CS0', { word: 5, lsb: 15, width: 5 }, 6, null, 'SPI flash CS0 pin override'),
  field('CHIP_VER_REV2', BLK0.CHIP_VER_REV2, null, null, 'revision bit 1'),
  field('VOL_LEVEL_HP_INV', { word: 5, lsb: 22, width: 2 }, 3, null, 'CPU voltage level at 240 MHz'),
  field('WAFER_VERSION_MINOR', BLK0.WAFER_VERSION_MINOR, null, null, 'minor chip revision'),
  field('FLASH_CRYPT_CONFIG', BLK0.FLASH_CRYPT_CONFIG, 10, 3, 'which key bits the address tweak covers (0xF = all)'),
  field('CODING_SCHEME', BLK0.CODING_SCHEME, 10, 3, 'BLK1-3 coding: 0 none, 1 3/4, 2 repeat'),
  field('CONSOLE_DEBUG_DISABLE', { word: 6, lsb: 2, width: 1 }, 15, null, 'ROM BASIC console disabled'),
  field('DISABLE_SDIO_HOST', { word: 6, lsb: 3, width: 1 }, null, null, 'SDIO host disabled'),
  field('ABS_DONE_0', { word: 6, lsb: 4, width: 1 }, 12, null, 'secure boot v1 enabled'),
  field('ABS_DONE_1', { word: 6, lsb: 5, width: 1 }, 13, null, 'secure boot v2 enabled (v3 only)', true),
  field('JTAG_DISABLE', BLK0.JTAG_DISABLE, 14, null, 'JTAG disabled'),
  field('DISABLE_DL_ENCRYPT', BLK0.DISABLE_DL_ENCRYPT, 15, null, 'no flash encryption in download mode'),
  field('DISABLE_DL_DECRYPT', BLK0.DISABLE_DL_DECRYPT, 15, null, 'no flash decryption in download mode'),
  field('DISABLE_DL_CACHE', BLK0.DISABLE_DL_CACHE, 15, null, 'no flash cache in download mode'),
  field('KEY_STATUS', { word: 6, lsb: 10, width: 1 }, 10, 3, 'usage of BLK3'),
];

export type EfuseFieldName = string;

export function findField(name: string): EfuseFieldInfo | undefined {
  const upper = name.toUpperCase();
  return EFUSE_FIELDS.find((f) => f.name === upper);
}

export function fieldMask(f: EfuseField): number {
  return f.width === 32 ? 0xffffffff : (((1 << f.width) - 1) << f.lsb) >>> 0;
}

export function fieldMax(f: EfuseField): number {
  return f.width === 32 ? 0xffffffff : (1 << f.width) - 1;
}

export type KeyBlockIndex = 1 | 2 | 3;

export interface EfuseBlockInfo {
  index: 0 | KeyBlockIndex;
  name: string;
  /** Absolute addresses of the first read (RDATA) and write (WDATA) register. */
  read: number;
  write: number;
  words: number;
  wrDisBit: number | null;
  rdDisBit: number | null;
}

const BASE = ESP32.reg.efuseBlk0;

export const EFUSE_BLOCKS: readonly EfuseBlockInfo[] = [
  { index: 0, name: 'BLOCK0', read: BASE + 0x000, write: BASE + 0x01c, words: 7, wrDisBit: null, rdDisBit: null },
  { index: 1, name: 'BLOCK1 (flash encryption key)', read: BASE + 0x038, write: BASE + 0x098, words: 8, wrDisBit: 7, rdDisBit: 0 },
  { index: 2, name: 'BLOCK2 (secure boot key)', read: BASE + 0x058, write: BASE + 0x0b8, words: 8, wrDisBit: 8, rdDisBit: 1 },
  { index: 3, name: 'BLOCK3 (user data)', read: BASE + 0x078, write: BASE + 0x0d8, words: 8, wrDisBit: 9, rdDisBit: 2 },
];

/** Controller registers (§3.1) and the CONF keys / CMD values of §3.3. */
export const EFUSE_CTRL = {
  clk: BASE + 0x0f8,
  conf: BASE + 0x0fc,
  cmd: BASE + 0x104,
  dacConf: BASE + 0x118,
  decStatus: BASE + 0x11c,
  confProgram: 0x5a5a,
  confRead: 0x5aa5,
  cmdRead: 0x1,
  cmdProgram: 0x2,
} as const;

/** EFUSE_CLK SEL0/SEL1 and DAC_CLK_DIV for the APB clock (§3.3 step 1). */
export const EFUSE_TIMING: Readonly<Record<26 | 40 | 80, { sel0: number; sel1: number; dacClkDiv: number }>> = {
  26: { sel0: 250, sel1: 255, dacClkDiv: 52 },
  40: { sel0: 160, sel1: 255, dacClkDiv: 80 },
  80: { sel0: 80, sel1: 128, dacClkDiv: 100 },
};

/**
 * BLK0 fields that `espfleet encrypt-flash` owns (spec §3.2, §5.3, §5.4): burned in the
 * wrong order or over a key that is not escrowed, they leave a board that cannot boot or
 * cannot be recovered. `espfleet efuse burn` refuses new bits here unless told otherwise
 * (efuse-guard.ts). Whole fields; the WR_DIS and RD_DIS bits that protect these fields and
 * the key blocks BLK1/BLK2 are owned too (ownedProtectionBits).
 */
export const ENCRYPTION_OWNED_FIELDS: Readonly<Record<string, string>> = {
  FLASH_CRYPT_CNT: 'an odd count turns flash encryption on with whatever key BLK1 holds',
  FLASH_CRYPT_CONFIG: 'which key bits the flash-encryption tweak uses',
  CODING_SCHEME: 'how BLK1-3 are decoded: changed under a burned key, the key changes',
  ABS_DONE_0: 'secure boot v1 on: the bootloader must then be signed with BLK2',
  ABS_DONE_1: 'secure boot v2 on',
  DISABLE_DL_ENCRYPT: 'release-mode download-mode disable',
  DISABLE_DL_DECRYPT: 'release-mode download-mode disable',
  DISABLE_DL_CACHE: 'release-mode download-mode disable',
  JTAG_DISABLE: 'release-mode JTAG disable',
  CONSOLE_DEBUG_DISABLE: 'release-mode ROM console disable',
};

/** Key blocks whose protection bits encrypt-flash owns: BLK1 (flash encryption), BLK2 (secure boot). */
export const ENCRYPTION_OWNED_KEY_BLOCKS: readonly KeyBlockIndex[] = [1, 2];

/** WR_DIS / RD_DIS bits owned with the fields above: their own protection bits and the key blocks'. */
export function ownedProtectionBits(): { WR_DIS: number; RD_DIS: number } {
  let wr = 0;
  let rd = 0;
  for (const name of Object.keys(ENCRYPTION_OWNED_FIELDS)) {
    const f = findField(name);
    if (f?.wrDis != null) wr |= 1 << f.wrDis;
    if (f?.rdDis != null) rd |= 1 << f.rdDis;
  }
  for (const b of ENCRYPTION_OWNED_KEY_BLOCKS) {
    const info = EFUSE_BLOCKS[b];
    if (info?.wrDisBit != null) wr |= 1 << info.wrDisBit;
    if (info?.rdDisBit != null) rd |= 1 << info.rdDisBit;
  }
  return { WR_DIS: wr >>> 0, RD_DIS: rd >>> 0 };
}
