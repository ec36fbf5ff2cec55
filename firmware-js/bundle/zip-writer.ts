// Writes a STORED-only ZIP with CRC and sizes in every local header (no data descriptor),
// as mos's ourzip AddFile does and the device requires (spec mongoose-os.md §1.1, §1.3).
import { concatBytes, view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import {
  CENTRAL_HEADER_SIGNATURE,
  CENTRAL_HEADER_SIZE,
  END_OF_CENTRAL_DIRECTORY_SIGNATURE,
  END_RECORD_SIZE,
  FIXED_DOS_DATE,
  FIXED_DOS_TIME,
  FLAG_UTF8_NAME,
  LOCAL_HEADER_SIGNATURE,
  LOCAL_HEADER_SIZE,
  METHOD_STORED,
  VERSION_NEEDED,
  crc32,
} from './zip-format.ts';

export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
  /** Raw extra field, written to both the local header and the central record (as Go does). */
  extra?: Uint8Array;
  dosTime?: number;
  dosDate?: number;
}

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/** Serialises entries in the given order; deterministic for the same input. */
export function writeStoredZip(entries: readonly ZipWriteEntry[]): Uint8Array {
  if (entries.length > U16_MAX) {
    throw new FirmwareError('firmware.zip.too_many_entries', `${entries.length} entries do not fit a ZIP without ZIP64 (max ${U16_MAX})`);
  }
  const encoder = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const extra = entry.extra ?? new Uint8Array(0);
    if (name.length > U16_MAX || extra.length > U16_MAX) {
      throw new FirmwareError('firmware.zip.field_too_long', `entry ${JSON.stringify(entry.name.slice(0, 60))}: name ${name.length} or extra ${extra.length} bytes exceed ${U16_MAX}`);
    }
    if (entry.data.length > U32_MAX || offset > U32_MAX) {
      throw new FirmwareError('firmware.zip.too_large', `entry ${JSON.stringify(entry.name)} (${entry.data.length} bytes at offset ${offset}) needs ZIP64, which the device does not read`);
    }
    const fields: EntryFields = {
      flags: /[^\x20-\x7e]/.test(entry.name) ? FLAG_UTF8_NAME : 0,
      crc: crc32(entry.data),
      size: entry.data.length,
      dosTime: entry.dosTime ?? FIXED_DOS_TIME,
      dosDate: entry.dosDate ?? FIXED_DOS_DATE,
    };
    const local = new Uint8Array(LOCAL_HEADER_SIZE + name.length + extra.length);
    writeLocalHeader(view(local), fields, name.length, extra.length);
    local.set(name, LOCAL_HEADER_SIZE);
    local.set(extra, LOCAL_HEADER_SIZE + name.length);
    locals.push(local, entry.data);

    const central = new Uint8Array(CENTRAL_HEADER_SIZE + name.length + extra.length);
    writeCentralHeader(view(central), fields, name.length, extra.length, offset);
    central.set(name, CENTRAL_HEADER_SIZE);
    central.set(extra, CENTRAL_HEADER_SIZE + name.length);
    centrals.push(central);
    offset += local.length + entry.data.length;
  }
  const directorySize = centrals.reduce((n, c) => n + c.length, 0);
  if (offset + directorySize > U32_MAX) {
    throw new FirmwareError('firmware.zip.too_large', `the archive would be ${offset + directorySize} bytes; without ZIP64 the limit is ${U32_MAX}`);
  }
  const end = new Uint8Array(END_RECORD_SIZE);
  const dv = view(end);
  dv.setUint32(0, END_OF_CENTRAL_DIRECTORY_SIGNATURE, true);
  dv.setUint16(8, entries.length, true);
  dv.setUint16(10, entries.length, true);
  dv.setUint32(12, directorySize, true);
  dv.setUint32(16, offset, true);
  return concatBytes([...locals, ...centrals, end]);
}

interface EntryFields {
  flags: number;
  crc: number;
  size: number;
  dosTime: number;
  dosDate: number;
}

function writeLocalHeader(dv: DataView, f: EntryFields, nameLength: number, extraLength: number): void {
  dv.setUint32(0, LOCAL_HEADER_SIGNATURE, true);
  dv.setUint16(4, VERSION_NEEDED, true);
  dv.setUint16(6, f.flags, true);
  dv.setUint16(8, METHOD_STORED, true);
  dv.setUint16(10, f.dosTime, true);
  dv.setUint16(12, f.dosDate, true);
  dv.setUint32(14, f.crc, true);
  dv.setUint32(18, f.size, true);
  dv.setUint32(22, f.size, true);
  dv.setUint16(26, nameLength, true);
  dv.setUint16(28, extraLength, true);
}

function writeCentralHeader(dv: DataView, f: EntryFields, nameLength: number, extraLength: number, localOffset: number): void {
  dv.setUint32(0, CENTRAL_HEADER_SIGNATURE, true);
  dv.setUint16(4, VERSION_NEEDED, true); // made by: MS-DOS, 2.0 — no Unix mode bits to set
  dv.setUint16(6, VERSION_NEEDED, true);
  dv.setUint16(8, f.flags, true);
  dv.setUint16(10, METHOD_STORED, true);
  dv.setUint16(12, f.dosTime, true);
  dv.setUint16(14, f.dosDate, true);
  dv.setUint32(16, f.crc, true);
  dv.setUint32(20, f.size, true);
  dv.setUint32(24, f.size, true);
  dv.setUint16(28, nameLength, true);
  dv.setUint16(30, extraLength, true);
  // comment length, disk number, internal and external attributes stay 0
  dv.setUint32(42, localOffset, true);
}
