// Decodes what a board is from the raw words the ROM lets us read (spec
// esp32-rom-efuse-crypto.md §2 revision/package/MAC/crystal, §3.2 BLK0 fields, §5.2
// FLASH_CRYPT_CNT). Pure: the session reads registers, this turns them into facts.
import { crc8Maxim } from '../../firmware-js/crc.ts';
import {
  APB_CTL_DATE_REV_BIT,
  BLK0,
  BLK1_RD_DIS_BIT,
  BLK1_WR_DIS_BIT,
  CODING_SCHEMES,
  ESP32,
  MAJOR_REVISION_BY_BITS,
  PACKAGES,
  crystalFromClkdiv,
  flashSizeFromJedec,
  readField,
  type CodingScheme,
} from './targets/esp32.ts';

export interface EfuseSecurityState {
  /** Raw 7-bit FLASH_CRYPT_CNT; encryption is on when an odd number of bits is set (§5.2). */
  flashCryptCnt: number;
  encryptionEnabled: boolean;
  /** FLASH_CRYPT_CONFIG nibble; reads 0 when RD_DIS bit 3 hides it. */
  flashCryptConfig: number;
  keyBlock1: { readProtected: boolean; writeProtected: boolean };
  downloadDisables: { encrypt: boolean; decrypt: boolean; cache: boolean };
  jtagDisabled: boolean;
  /** UART_DOWNLOAD_DIS exists on v3 silicon only; earlier chips read 0. */
  uartDownloadDisabled: boolean;
  codingScheme: CodingScheme;
}

export interface ChipFacts {
  chip: 'ESP32';
  /** Factory MAC, lowercase, colon-separated. */
  mac: string;
  /** True when the MAC_CRC eFuse matches the MAC (a mismatch means a damaged or odd chip). */
  macCrcOk: boolean;
  revision: { major: number; minor: number };
  package: string;
  crystalMHz: 40 | 26;
  features: string[];
  flash: { jedecId: number; sizeBytes: number | null };
  efuse: EfuseSecurityState;
  /** BLK0 words 0..6 as read, for diagnostics and --json. */
  efuseWords: number[];
}

/** Everything read from the board that the facts are decoded from. */
export interface RawChipReadings {
  efuseWords: readonly number[];
  apbCtlDate: number;
  /** UART_CLKDIV read while the ROM ran at `clkdivBaud` (the stub changes the APB clock). */
  uartClkdiv: number;
  clkdivBaud: number;
  jedecId: number;
}

export function decodeMac(words: readonly number[]): { mac: string; crcOk: boolean } {
  const w1 = (words[1] ?? 0) >>> 0;
  const w2 = (words[2] ?? 0) >>> 0;
  const bytes = Uint8Array.of((w2 >>> 8) & 0xff, w2 & 0xff, w1 >>> 24, (w1 >>> 16) & 0xff, (w1 >>> 8) & 0xff, w1 & 0xff);
  const crc = (w2 >>> 16) & 0xff;
  return { mac: [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':'), crcOk: crc8Maxim(bytes) === crc };
}

export function decodeRevision(words: readonly number[], apbCtlDate: number): { major: number; minor: number } {
  // esptool's table, not esptool-js's nested ifs: they disagree on inconsistent bits (§2).
  const bits = ((apbCtlDate >>> APB_CTL_DATE_REV_BIT) & 1) << 2 | readField(words, BLK0.CHIP_VER_REV2) << 1 | readField(words, BLK0.CHIP_VER_REV1);
  return { major: MAJOR_REVISION_BY_BITS[bits] ?? 0, minor: readField(words, BLK0.WAFER_VERSION_MINOR) };
}

export function decodePackage(words: readonly number[], major: number): { code: number; name: string } {
  const code = readField(words, BLK0.CHIP_PACKAGE) | (readField(words, BLK0.CHIP_PACKAGE_4BIT) << 3);
  const entry = PACKAGES[code];
  if (!entry) return { code, name: `unknown ESP32 package ${code}` };
  const singleCore = readField(words, BLK0.DISABLE_APP_CPU) === 1;
  const name = (singleCore ? entry.singleCore : undefined) ?? (major === 3 ? entry.v3 : undefined) ?? entry.name;
  return { code, name };
}

export function decodeFeatures(words: readonly number[], packageCode: number): string[] {
  const features = ['Wi-Fi'];
  if (!readField(words, BLK0.DISABLE_BT)) features.push('BT');
  features.push(readField(words, BLK0.DISABLE_APP_CPU) ? 'Single Core' : 'Dual Core');
  if (readField(words, BLK0.CHIP_CPU_FREQ_RATED)) features.push(readField(words, BLK0.CHIP_CPU_FREQ_LOW) ? '160MHz' : '240MHz');
  if (PACKAGES[packageCode]?.embeddedFlash) features.push('Embedded Flash');
  if (PACKAGES[packageCode]?.embeddedPsram) features.push('Embedded PSRAM');
  if (readField(words, BLK0.ADC_VREF)) features.push('Vref calibration in eFuse');
  if (readField(words, BLK0.BLK3_PART_RESERVE)) features.push('BLK3 partially reserved');
  return features;
}

export function decodeSecurity(words: readonly number[]): EfuseSecurityState {
  const cnt = readField(words, BLK0.FLASH_CRYPT_CNT);
  const wrDis = readField(words, BLK0.WR_DIS);
  const rdDis = readField(words, BLK0.RD_DIS);
  return {
    flashCryptCnt: cnt,
    encryptionEnabled: popcount(cnt) % 2 === 1,
    flashCryptConfig: readField(words, BLK0.FLASH_CRYPT_CONFIG),
    keyBlock1: { readProtected: ((rdDis >>> BLK1_RD_DIS_BIT) & 1) === 1, writeProtected: ((wrDis >>> BLK1_WR_DIS_BIT) & 1) === 1 },
    downloadDisables: {
      encrypt: readField(words, BLK0.DISABLE_DL_ENCRYPT) === 1,
      decrypt: readField(words, BLK0.DISABLE_DL_DECRYPT) === 1,
      cache: readField(words, BLK0.DISABLE_DL_CACHE) === 1,
    },
    jtagDisabled: readField(words, BLK0.JTAG_DISABLE) === 1,
    uartDownloadDisabled: readField(words, BLK0.UART_DOWNLOAD_DIS) === 1,
    codingScheme: CODING_SCHEMES[readField(words, BLK0.CODING_SCHEME)] ?? 'none',
  };
}

export function decodeChipFacts(raw: RawChipReadings): ChipFacts {
  const words = raw.efuseWords.slice(0, ESP32.efuseBlk0Words).map((w) => w >>> 0);
  const { mac, crcOk } = decodeMac(words);
  const revision = decodeRevision(words, raw.apbCtlDate);
  const pkg = decodePackage(words, revision.major);
  return {
    chip: ESP32.name,
    mac,
    macCrcOk: crcOk,
    revision,
    package: pkg.name,
    crystalMHz: crystalFromClkdiv(raw.uartClkdiv, raw.clkdivBaud),
    features: decodeFeatures(words, pkg.code),
    flash: { jedecId: raw.jedecId >>> 0, sizeBytes: flashSizeFromJedec(raw.jedecId) },
    efuse: decodeSecurity(words),
    efuseWords: words,
  };
}

export function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v >>>= 1) c += v & 1;
  return c;
}
