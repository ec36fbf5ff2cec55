// Partition table entry shape and the type/subtype name tables of ESP-IDF's
// gen_esp32part (spec esp32-rom-efuse-crypto.md §6.3).
import { FirmwareError } from '../errors.ts';

export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  /** The raw flags word; bit 0 is `encrypted`, bit 1 `readonly` (newer IDF). */
  flags: number;
  /** Flag bit 0. When building, this wins over bit 0 of `flags`. */
  encrypted: boolean;
}

export const FLAG_ENCRYPTED = 0x1;
export const FLAG_READONLY = 0x2;

export const PARTITION_TYPES = { app: 0x00, data: 0x01, bootloader: 0x02, partition_table: 0x03 } as const;

export const APP_SUBTYPES: Readonly<Record<string, number>> = {
  factory: 0x00,
  ...Object.fromEntries(Array.from({ length: 16 }, (_, n) => [`ota_${n}`, 0x10 + n])),
  test: 0x20,
  tee_0: 0x30,
  tee_1: 0x31,
};

export const DATA_SUBTYPES: Readonly<Record<string, number>> = {
  ota: 0x00,
  phy: 0x01,
  nvs: 0x02,
  coredump: 0x03,
  nvs_keys: 0x04,
  efuse: 0x05,
  undefined: 0x06,
  esphttpd: 0x80,
  fat: 0x81,
  spiffs: 0x82,
  littlefs: 0x83,
  tee_ota: 0x90,
};

export const BOOTLOADER_SUBTYPES: Readonly<Record<string, number>> = { primary: 0x00, ota: 0x01, recovery: 0x02 };
export const PARTITION_TABLE_SUBTYPES: Readonly<Record<string, number>> = { primary: 0x00, ota: 0x01 };

function subtypeTable(type: number): Readonly<Record<string, number>> | undefined {
  return [APP_SUBTYPES, DATA_SUBTYPES, BOOTLOADER_SUBTYPES, PARTITION_TABLE_SUBTYPES][type];
}

/** "app", "data", … or the number in hex for custom types (0x40–0xFE). */
export function partitionTypeName(type: number): string {
  const found = Object.entries(PARTITION_TYPES).find(([, v]) => v === type);
  return found ? found[0] : `0x${type.toString(16).padStart(2, '0')}`;
}

export function partitionSubtypeName(type: number, subtype: number): string {
  const found = Object.entries(subtypeTable(type) ?? {}).find(([, v]) => v === subtype);
  return found ? found[0] : `0x${subtype.toString(16).padStart(2, '0')}`;
}

/** Resolves a type given as a name ("data") or a number/hex string, as a CSV row would hold it. */
export function partitionTypeFromName(name: string): number {
  const known = (PARTITION_TYPES as Record<string, number>)[name];
  if (known !== undefined) return known;
  return parseByte(name, 'partition type', Object.keys(PARTITION_TYPES));
}

export function partitionSubtypeFromName(type: number, name: string): number {
  const known = subtypeTable(type)?.[name];
  if (known !== undefined) return known;
  return parseByte(name, `subtype for type ${partitionTypeName(type)}`, Object.keys(subtypeTable(type) ?? {}));
}

function parseByte(text: string, what: string, names: string[]): number {
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xff) {
    throw new FirmwareError('firmware.partition.bad_name', `unknown ${what} ${JSON.stringify(text)}`, {
      hint: `use one of ${names.join(', ')} or a number 0–255`,
    });
  }
  return n;
}

export const isOtaAppSubtype = (subtype: number): boolean => subtype >= 0x10 && subtype <= 0x1f;
