// The slice of the ZIP format (APPNOTE 6.3) a Mongoose OS fw.zip uses: STORED entries with
// CRC and sizes in the local header (spec mongoose-os.md §1.1). Constants shared by reader and writer.
import { crc32 as zlibCrc32 } from 'node:zlib';

export const LOCAL_HEADER_SIGNATURE = 0x04034b50;
export const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
export const END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06054b50;

export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const END_RECORD_SIZE = 22;

export const METHOD_STORED = 0;
export const FLAG_ENCRYPTED = 1 << 0;
export const FLAG_DATA_DESCRIPTOR = 1 << 3;
export const FLAG_UTF8_NAME = 1 << 11;

/** "Version needed to extract" for a plain stored file: 2.0. */
export const VERSION_NEEDED = 20;

/**
 * 1980-01-01 00:00:00, the earliest valid DOS date. Bundles carry a fixed time so the
 * same inputs always give the same bytes (mos leaves the field zero, which is not a date).
 */
export const FIXED_DOS_TIME = 0;
export const FIXED_DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** One entry as found in the archive, in archive order. */
export interface ZipEntryInfo {
  /** Name exactly as stored (may carry a directory prefix). */
  name: string;
  /** Offset of the local file header. */
  headerOffset: number;
  /** Offset of the first data byte. */
  dataOffset: number;
  size: number;
  /** CRC-32 from the local header; 0 means "not checked" to the device. */
  crc32: number;
  flags: number;
  dosTime: number;
  dosDate: number;
  /** Raw extra field of the local header (the device and signatures use this copy). */
  extra: Uint8Array;
}

/** CRC-32/IEEE as ZIP, zlib and the device's cs_crc32 compute it. */
export function crc32(data: Uint8Array): number {
  return zlibCrc32(data) >>> 0;
}

export function crcHex(crc: number): string {
  return `0x${(crc >>> 0).toString(16).padStart(8, '0')}`;
}
