// Reads a ZIP the way the device's streaming OTA parser does (spec mongoose-os.md §1.1):
// local headers one after another from offset 0, STORED only, CRC and sizes in the header.
// The central directory is then checked against them so unzip tools and the device agree.
import { view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import {
  CENTRAL_HEADER_SIGNATURE,
  CENTRAL_HEADER_SIZE,
  END_OF_CENTRAL_DIRECTORY_SIGNATURE,
  END_RECORD_SIZE,
  FLAG_DATA_DESCRIPTOR,
  FLAG_ENCRYPTED,
  LOCAL_HEADER_SIGNATURE,
  LOCAL_HEADER_SIZE,
  METHOD_STORED,
  crc32,
  crcHex,
  type ZipEntryInfo,
} from './zip-format.ts';

export interface StoredZipEntry {
  info: ZipEntryInfo;
  /** The entry's bytes (a view into the archive). */
  data: Uint8Array;
}

const REPACK_HINT = 'rebuild the bundle with espfleet or `mos create-fw-bundle` (without --compress)';
// ignoreBOM: a leading U+FEFF is part of the name to the device, so it must stay in ours.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses every entry of a STORED-only archive, enforcing the device's container rules. */
export function readStoredZip(zip: Uint8Array): StoredZipEntry[] {
  const dv = view(zip);
  const entries: StoredZipEntry[] = [];
  let at = 0;
  for (;;) {
    need(zip, at, 4, 'an entry signature');
    const signature = dv.getUint32(at, true);
    if (signature === CENTRAL_HEADER_SIGNATURE) break; // the device's end-of-archive marker
    if (signature === END_OF_CENTRAL_DIRECTORY_SIGNATURE && entries.length === 0) break; // empty archive
    if (signature !== LOCAL_HEADER_SIGNATURE) {
      throw new FirmwareError(
        entries.length === 0 ? 'firmware.zip.not_a_zip' : 'firmware.zip.bad_signature',
        `expected a local file header (0x04034b50) or the central directory at offset ${at}, found 0x${signature.toString(16).padStart(8, '0')}`,
        { hint: entries.length === 0 ? 'is this a fw.zip bundle?' : REPACK_HINT },
      );
    }
    const entry = readLocalEntry(zip, dv, at);
    entries.push(entry);
    at = entry.info.dataOffset + entry.info.size;
  }
  if (entries.length === 0) {
    throw new FirmwareError('firmware.zip.empty', 'the archive has no entries', { hint: 'a bundle starts with manifest.json' });
  }
  checkCentralDirectory(zip, dv, at, entries);
  return entries;
}

function readLocalEntry(zip: Uint8Array, dv: DataView, at: number): StoredZipEntry {
  need(zip, at, LOCAL_HEADER_SIZE, 'a local file header');
  const flags = dv.getUint16(at + 6, true);
  const method = dv.getUint16(at + 8, true);
  const crc = dv.getUint32(at + 14, true);
  const compressedSize = dv.getUint32(at + 18, true);
  const size = dv.getUint32(at + 22, true);
  const nameLength = dv.getUint16(at + 26, true);
  const extraLength = dv.getUint16(at + 28, true);
  need(zip, at + LOCAL_HEADER_SIZE, nameLength + extraLength, 'an entry name and extra field');
  const nameBytes = zip.subarray(at + LOCAL_HEADER_SIZE, at + LOCAL_HEADER_SIZE + nameLength);
  const name = decodeName(nameBytes, at);
  const where = `entry ${JSON.stringify(name)} at offset ${at}`;

  if (flags & FLAG_ENCRYPTED) {
    throw new FirmwareError('firmware.zip.encrypted_entry', `${where} is encrypted (flags 0x${flags.toString(16)})`, {
      hint: REPACK_HINT,
    });
  }
  if (method !== METHOD_STORED) {
    throw new FirmwareError(
      'firmware.zip.compressed_entry',
      `${where} uses compression method ${method}; the device only handles STORED (0) entries`,
      { hint: REPACK_HINT },
    );
  }
  // The device reads sizes and CRC from the local header; with bit 3 they are zero there.
  if (flags & FLAG_DATA_DESCRIPTOR) {
    throw new FirmwareError(
      'firmware.zip.data_descriptor',
      `${where} has a data descriptor (flags 0x${flags.toString(16)}); the device needs CRC and sizes in the local header`,
      { hint: 'the archive was written to a stream; ' + REPACK_HINT },
    );
  }
  if (compressedSize !== size) {
    throw new FirmwareError(
      'firmware.zip.size_mismatch',
      `${where} has compressed size ${compressedSize} but uncompressed size ${size}; a STORED entry has one size`,
      { hint: REPACK_HINT },
    );
  }
  const dataOffset = at + LOCAL_HEADER_SIZE + nameLength + extraLength;
  need(zip, dataOffset, size, `the ${size} data bytes of ${JSON.stringify(name)}`);
  const data = zip.subarray(dataOffset, dataOffset + size);
  // Like the device, a zero CRC means "unchecked"; the part digests still cover the data.
  if (crc !== 0) {
    const actual = crc32(data);
    if (actual !== crc) {
      throw new FirmwareError(
        'firmware.zip.bad_crc',
        `${where}: CRC-32 in the header is ${crcHex(crc)}, the data gives ${crcHex(actual)}`,
        { hint: 'the file is corrupt or was modified; download or build it again' },
      );
    }
  }
  const info: ZipEntryInfo = {
    name,
    headerOffset: at,
    dataOffset,
    size,
    crc32: crc,
    flags,
    dosTime: dv.getUint16(at + 10, true),
    dosDate: dv.getUint16(at + 12, true),
    extra: zip.subarray(at + LOCAL_HEADER_SIZE + nameLength, dataOffset),
  };
  return { info, data };
}

/** Every local entry must have a matching central record, in order, then the end record. */
function checkCentralDirectory(zip: Uint8Array, dv: DataView, start: number, entries: StoredZipEntry[]): void {
  let at = start;
  for (const [index, { info }] of entries.entries()) {
    need(zip, at, CENTRAL_HEADER_SIZE, `central directory record ${index}`);
    if (dv.getUint32(at, true) !== CENTRAL_HEADER_SIGNATURE) {
      mismatch(`central directory record ${index} at offset ${at} has no central header signature`);
    }
    const nameLength = dv.getUint16(at + 28, true);
    const extraLength = dv.getUint16(at + 30, true);
    const commentLength = dv.getUint16(at + 32, true);
    need(zip, at + CENTRAL_HEADER_SIZE, nameLength + extraLength + commentLength, `central directory record ${index}`);
    const name = decodeName(zip.subarray(at + CENTRAL_HEADER_SIZE, at + CENTRAL_HEADER_SIZE + nameLength), at);
    const fields: [string, number | string, number | string][] = [
      ['name', name, info.name],
      ['method', dv.getUint16(at + 10, true), METHOD_STORED],
      ['crc', dv.getUint32(at + 16, true), info.crc32],
      ['compressed size', dv.getUint32(at + 20, true), info.size],
      ['size', dv.getUint32(at + 24, true), info.size],
      ['local header offset', dv.getUint32(at + 42, true), info.headerOffset],
    ];
    for (const [field, central, local] of fields) {
      if (central !== local) {
        mismatch(`central directory record ${index} says ${field} ${JSON.stringify(central)}, the local header says ${JSON.stringify(local)}`);
      }
    }
    at += CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
  }
  need(zip, at, END_RECORD_SIZE, 'the end of central directory record');
  const signature = dv.getUint32(at, true);
  if (signature !== END_OF_CENTRAL_DIRECTORY_SIGNATURE) {
    mismatch(`expected the end record after ${entries.length} central records at offset ${at}, found 0x${signature.toString(16).padStart(8, '0')}`);
  }
  const end = {
    disk: dv.getUint16(at + 4, true),
    directoryDisk: dv.getUint16(at + 6, true),
    entriesOnDisk: dv.getUint16(at + 8, true),
    entries: dv.getUint16(at + 10, true),
    directorySize: dv.getUint32(at + 12, true),
    directoryOffset: dv.getUint32(at + 16, true),
  };
  const expected = { disk: 0, directoryDisk: 0, entriesOnDisk: entries.length, entries: entries.length, directorySize: at - start, directoryOffset: start };
  for (const key of Object.keys(expected) as (keyof typeof expected)[]) {
    if (end[key] !== expected[key]) mismatch(`the end record says ${key} ${end[key]}, the archive has ${expected[key]}`);
  }
  const commentLength = dv.getUint16(at + 20, true);
  const finish = at + END_RECORD_SIZE + commentLength;
  need(zip, at + END_RECORD_SIZE, commentLength, 'the archive comment');
  if (finish !== zip.length) {
    throw new FirmwareError('firmware.zip.trailing_data', `${zip.length - finish} bytes follow the end of the archive at offset ${finish}`, {
      hint: 'the file was appended to or concatenated; use the original bundle',
    });
  }
}

function decodeName(bytes: Uint8Array, at: number): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new FirmwareError('firmware.zip.bad_name', `the entry name at offset ${at} is not valid UTF-8`, { hint: REPACK_HINT, cause });
  }
}

function need(zip: Uint8Array, at: number, length: number, what: string): void {
  if (at + length > zip.length) {
    throw new FirmwareError(
      'firmware.zip.truncated',
      `the archive ends at ${zip.length} bytes but ${what} needs ${length} bytes at offset ${at}`,
      { hint: 'the download was cut short; fetch the bundle again' },
    );
  }
}

function mismatch(message: string): never {
  throw new FirmwareError('firmware.zip.central_directory_mismatch', message, {
    hint: 'unzip tools and the device would see different files; ' + REPACK_HINT,
  });
}
