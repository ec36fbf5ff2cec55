// esp_app_desc_t (256 bytes at the start of an app's first DROM segment) and
// esp_bootloader_desc_t (80 bytes at the start of a newer bootloader's DRAM
// segment), spec esp32-rom-efuse-crypto.md §6.2.
import { hex, view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';

export const APP_DESC_MAGIC = 0xabcd5432;
export const APP_DESC_LENGTH = 256;
export const BOOTLOADER_DESC_MAGIC = 0x50;
export const BOOTLOADER_DESC_LENGTH = 80;

export interface AppDesc {
  secureVersion: number;
  version: string;
  projectName: string;
  time: string;
  date: string;
  idfVer: string;
  /** Hex; esptool patches the ELF's SHA-256 here (image file offset 0xB0). */
  appElfSha256: string;
  /** IDF ≥ 5 only; older IDF left these bytes reserved (zero). */
  minEfuseBlkRevFull: number;
  maxEfuseBlkRevFull: number;
  /** log2 of the MMU page size, 0 when unset (older IDF). */
  mmuPageSizeLog2: number;
}

export interface AppDescFields {
  version: string;
  projectName: string;
  time: string;
  date: string;
  idfVer: string;
  secureVersion?: number;
  appElfSha256?: Uint8Array;
  minEfuseBlkRevFull?: number;
  maxEfuseBlkRevFull?: number;
  mmuPageSizeLog2?: number;
}

export interface BootloaderDesc {
  version: number;
  idfVer: string;
  dateTime: string;
}

// Field offsets and widths inside esp_app_desc_t; stable up to 176 across IDF versions.
const F = {
  secureVersion: 4,
  version: [16, 32],
  projectName: [48, 32],
  time: [80, 16],
  date: [96, 16],
  idfVer: [112, 32],
  elfSha: 144,
  minEfuse: 176,
  maxEfuse: 178,
  mmuPage: 180,
} as const;

/** A C string field: text up to the first NUL (the field need not contain one). */
export function readCString(bytes: Uint8Array, offset: number, width: number): string {
  const field = bytes.subarray(offset, offset + width);
  const end = field.indexOf(0);
  return new TextDecoder('utf-8').decode(end < 0 ? field : field.subarray(0, end));
}

function writeCString(out: Uint8Array, offset: number, width: number, text: string, field: string): void {
  const encoded = new TextEncoder().encode(text);
  // IDF asserts these fit with their terminating NUL; a full field would be read past its end by C code.
  if (encoded.length > width - 1) {
    throw new FirmwareError(
      'firmware.image.app_desc_field_too_long',
      `${field} ${JSON.stringify(text)} is ${encoded.length} bytes; the field holds at most ${width - 1} plus a NUL`,
      { hint: `shorten ${field} to ${width - 1} bytes or fewer` },
    );
  }
  out.set(encoded, offset);
}

/** True when `bytes` holds an esp_app_desc_t magic at `offset` (and room for the struct). */
export function hasAppDesc(bytes: Uint8Array, offset = 0): boolean {
  return offset >= 0 && offset + APP_DESC_LENGTH <= bytes.length && view(bytes).getUint32(offset, true) === APP_DESC_MAGIC;
}

export function parseAppDesc(bytes: Uint8Array, offset = 0): AppDesc {
  if (offset < 0 || offset + APP_DESC_LENGTH > bytes.length) {
    throw new FirmwareError(
      'firmware.image.truncated',
      `esp_app_desc_t needs ${APP_DESC_LENGTH} bytes at offset ${offset}, only ${Math.max(0, bytes.length - offset)} available`,
      { hint: 'pass the whole app image or its first DROM segment' },
    );
  }
  const v = view(bytes);
  const magic = v.getUint32(offset, true);
  if (magic !== APP_DESC_MAGIC) {
    throw new FirmwareError(
      'firmware.image.bad_app_desc_magic',
      `esp_app_desc_t magic at offset ${offset} is 0x${magic.toString(16).padStart(8, '0')}, expected 0xabcd5432`,
      { hint: 'an app image carries it at file offset 0x20; bootloaders and data partitions have none' },
    );
  }
  const str = (f: readonly [number, number]) => readCString(bytes, offset + f[0], f[1]);
  return {
    secureVersion: v.getUint32(offset + F.secureVersion, true),
    version: str(F.version),
    projectName: str(F.projectName),
    time: str(F.time),
    date: str(F.date),
    idfVer: str(F.idfVer),
    appElfSha256: hex(bytes.subarray(offset + F.elfSha, offset + F.elfSha + 32)),
    minEfuseBlkRevFull: v.getUint16(offset + F.minEfuse, true),
    maxEfuseBlkRevFull: v.getUint16(offset + F.maxEfuse, true),
    mmuPageSizeLog2: bytes[offset + F.mmuPage] as number,
  };
}

export function buildAppDesc(fields: AppDescFields): Uint8Array {
  const out = new Uint8Array(APP_DESC_LENGTH);
  const v = view(out);
  v.setUint32(0, APP_DESC_MAGIC, true);
  v.setUint32(F.secureVersion, fields.secureVersion ?? 0, true);
  writeCString(out, ...F.version, fields.version, 'version');
  writeCString(out, ...F.projectName, fields.projectName, 'projectName');
  writeCString(out, ...F.time, fields.time, 'time');
  writeCString(out, ...F.date, fields.date, 'date');
  writeCString(out, ...F.idfVer, fields.idfVer, 'idfVer');
  if (fields.appElfSha256) {
    if (fields.appElfSha256.length !== 32) {
      throw new FirmwareError('firmware.image.bad_app_desc', `appElfSha256 is ${fields.appElfSha256.length} bytes, expected 32`);
    }
    out.set(fields.appElfSha256, F.elfSha);
  }
  v.setUint16(F.minEfuse, fields.minEfuseBlkRevFull ?? 0, true);
  v.setUint16(F.maxEfuse, fields.maxEfuseBlkRevFull ?? 0, true);
  out[F.mmuPage] = fields.mmuPageSizeLog2 ?? 0;
  return out;
}

/** Parses esp_bootloader_desc_t at `offset`, or returns null when its magic byte is absent. */
export function parseBootloaderDesc(bytes: Uint8Array, offset = 0): BootloaderDesc | null {
  if (offset < 0 || offset + BOOTLOADER_DESC_LENGTH > bytes.length || bytes[offset] !== BOOTLOADER_DESC_MAGIC) return null;
  return {
    version: view(bytes).getUint32(offset + 4, true),
    idfVer: readCString(bytes, offset + 8, 32),
    dateTime: readCString(bytes, offset + 40, 24),
  };
}

export function buildBootloaderDesc(desc: BootloaderDesc): Uint8Array {
  const out = new Uint8Array(BOOTLOADER_DESC_LENGTH);
  out[0] = BOOTLOADER_DESC_MAGIC;
  view(out).setUint32(4, desc.version, true);
  writeCString(out, 8, 32, desc.idfVer, 'idfVer');
  writeCString(out, 40, 24, desc.dateTime, 'dateTime');
  return out;
}
