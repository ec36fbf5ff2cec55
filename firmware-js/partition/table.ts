// Partition table at 0x8000 (spec esp32-rom-efuse-crypto.md §6.3): parse like the
// 2nd-stage bootloader's esp_partition_table_verify (≤ 96 rows, optional MD5 row,
// 0xFFFF terminator), add gen_esp32part's overlap/label checks, and build byte-exact.
import { createHash } from 'node:crypto';
import { hex, hex32, view } from '../bytes.ts';
import { FirmwareError } from '../errors.ts';
import { FLAG_ENCRYPTED, PARTITION_TYPES, DATA_SUBTYPES, partitionTypeName, partitionSubtypeName, isOtaAppSubtype, type PartitionEntry } from './types.ts';

export const PARTITION_TABLE_MAX_LENGTH = 0xc00;
export const PARTITION_ROW_LENGTH = 32;
/** Rows the bootloader scans: 0xC00 / 32. */
export const PARTITION_TABLE_MAX_ROWS = PARTITION_TABLE_MAX_LENGTH / PARTITION_ROW_LENGTH;
const ENTRY_MAGIC = 0x50aa;
const MD5_MAGIC = 0xebeb;
const LABEL_LENGTH = 16;
const APP_ALIGN = 0x10000;
const DATA_ALIGN = 0x1000;
const OTADATA_SIZE = 0x2000;

export interface PartitionTable {
  entries: PartitionEntry[];
  md5: { present: boolean; ok: boolean; stored: string | null; computed: string };
  /** Rows used including the MD5 row (not the terminator). */
  rows: number;
}

export interface ParsePartitionOptions {
  /**
   * Reject entries that end beyond this flash size, like the bootloader does with the
   * chip size it configured. (The spec treats "the bootloader takes that size from its own
   * image header" as likely, not confirmed, so callers pass the size they mean.)
   */
  flashSize?: number;
  /** Report an MD5 mismatch in `md5.ok` instead of throwing (for inspectors). Default false. */
  reportBadMd5?: boolean;
}

export function parsePartitionTable(bytes: Uint8Array, opts: ParsePartitionOptions = {}): PartitionTable {
  const v = view(bytes);
  const entries: PartitionEntry[] = [];
  let md5: PartitionTable['md5'] | undefined;
  const available = Math.min(PARTITION_TABLE_MAX_ROWS, Math.floor(bytes.length / PARTITION_ROW_LENGTH));
  for (let row = 0; row < available; row++) {
    const at = row * PARTITION_ROW_LENGTH;
    const magic = v.getUint16(at, true);
    if (magic === ENTRY_MAGIC) {
      const entry = decodeEntry(bytes, at);
      if (opts.flashSize !== undefined && (entry.offset > opts.flashSize || entry.offset + entry.size > opts.flashSize)) {
        throw new FirmwareError(
          'firmware.partition.beyond_flash',
          `partition ${row} "${entry.label}" at ${hex32(entry.offset)} size ${hex32(entry.size)} ends beyond the ${hex32(opts.flashSize)}-byte flash`,
          { hint: 'the bootloader rejects this table; use a table made for this flash size or set the right flash size in the bootloader header' },
        );
      }
      entries.push(entry);
    } else if (magic === MD5_MAGIC) {
      if (md5) throw new FirmwareError('firmware.partition.duplicate_md5', `second MD5 row at row ${row}; only one is allowed`);
      // The digest covers every row before the MD5 row, exactly as the bootloader hashes it.
      const computed = hex(createHash('md5').update(bytes.subarray(0, at)).digest());
      const stored = hex(bytes.subarray(at + 16, at + 32));
      if (stored !== computed && !opts.reportBadMd5) {
        throw new FirmwareError('firmware.partition.bad_md5', `partition table MD5 row holds ${stored}, the entries hash to ${computed}`, {
          hint: 'the table was edited or corrupted after it was generated; regenerate it',
        });
      }
      md5 = { present: true, ok: stored === computed, stored, computed };
    } else if (magic === 0xffff && bytes[at + 2] === 0xff && bytes[at + 3] === 0xff) {
      checkLayout(entries);
      return { entries, md5: md5 ?? { present: false, ok: false, stored: null, computed: entriesMd5(bytes, entries.length) }, rows: row };
    } else {
      throw new FirmwareError(
        'firmware.partition.bad_row',
        `partition table row ${row} (offset ${hex32(at)}) starts with magic 0x${magic.toString(16).padStart(4, '0')}, not an entry (0x50aa), MD5 row (0xebeb) or terminator (0xffff)`,
        { hint: 'not a partition table, or an encrypted one read without decryption' },
      );
    }
  }
  if (available < PARTITION_TABLE_MAX_ROWS) {
    throw new FirmwareError(
      'firmware.partition.truncated',
      `partition table data ends after ${bytes.length} bytes (${available} rows) without a terminator row`,
      { hint: 'pass the whole 0xC00-byte table (or the 4 KiB sector at 0x8000)' },
    );
  }
  throw new FirmwareError('firmware.partition.no_terminator', `no terminator row within the ${PARTITION_TABLE_MAX_ROWS} rows the bootloader scans`, {
    hint: 'a table holds at most 95 rows including the MD5 row',
  });
}

function entriesMd5(bytes: Uint8Array, count: number): string {
  return hex(createHash('md5').update(bytes.subarray(0, count * PARTITION_ROW_LENGTH)).digest());
}

function decodeEntry(bytes: Uint8Array, at: number): PartitionEntry {
  const v = view(bytes);
  const rawLabel = bytes.subarray(at + 12, at + 12 + LABEL_LENGTH);
  const nul = rawLabel.indexOf(0);
  const flags = v.getUint32(at + 28, true);
  return {
    label: new TextDecoder().decode(nul < 0 ? rawLabel : rawLabel.subarray(0, nul)),
    type: bytes[at + 2] as number,
    subtype: bytes[at + 3] as number,
    offset: v.getUint32(at + 4, true),
    size: v.getUint32(at + 8, true),
    flags,
    encrypted: (flags & FLAG_ENCRYPTED) !== 0,
  };
}

/** gen_esp32part's cross-entry rules: unique labels and no overlapping ranges. */
function checkLayout(entries: readonly PartitionEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.label)) {
      throw new FirmwareError('firmware.partition.duplicate_label', `two partitions are labelled "${e.label}"`, {
        hint: 'labels must be unique so partitions can be found by name',
      });
    }
    seen.add(e.label);
  }
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as PartitionEntry;
    const b = sorted[i] as PartitionEntry;
    if (a.offset + a.size > b.offset) {
      throw new FirmwareError(
        'firmware.partition.overlap',
        `partitions "${a.label}" (${hex32(a.offset)}–${hex32(a.offset + a.size)}) and "${b.label}" (${hex32(b.offset)}–${hex32(b.offset + b.size)}) overlap`,
        { hint: 'fix the offsets/sizes so each partition ends before the next begins' },
      );
    }
  }
}

export interface BuildPartitionOptions {
  /** Append the MD5 row (gen_esp32part default). Default true. */
  md5?: boolean;
  /** Where the table itself lives; partitions must start after its 4 KiB sector. Default 0x8000. */
  tableOffset?: number;
}

/** Encodes a table: entries, optional MD5 row, then 0xFF up to exactly 0xC00 bytes. */
export function buildPartitionTable(entries: readonly PartitionEntry[], opts: BuildPartitionOptions = {}): Uint8Array {
  const withMd5 = opts.md5 ?? true;
  const rows = entries.length + (withMd5 ? 1 : 0);
  // gen_esp32part insists on room for the terminator within the 0xC00 bytes.
  if (rows * PARTITION_ROW_LENGTH >= PARTITION_TABLE_MAX_LENGTH) {
    throw new FirmwareError('firmware.partition.too_many', `${entries.length} partitions${withMd5 ? ' plus the MD5 row' : ''} do not fit in 0xC00 bytes with a terminator`, {
      hint: `at most ${PARTITION_TABLE_MAX_ROWS - 1 - (withMd5 ? 1 : 0)} partitions`,
    });
  }
  const tableEnd = (opts.tableOffset ?? 0x8000) + 0x1000;
  for (const e of entries) validateEntry(e, tableEnd);
  checkLayout(entries);
  const otadata = entries.filter((e) => e.type === PARTITION_TYPES.data && e.subtype === DATA_SUBTYPES.ota);
  if (otadata.length > 1) throw new FirmwareError('firmware.partition.bad_entry', `${otadata.length} otadata partitions; at most one is allowed`);

  const out = new Uint8Array(PARTITION_TABLE_MAX_LENGTH).fill(0xff);
  const v = view(out);
  entries.forEach((e, i) => {
    const at = i * PARTITION_ROW_LENGTH;
    v.setUint16(at, ENTRY_MAGIC, true);
    out[at + 2] = e.type;
    out[at + 3] = e.subtype;
    v.setUint32(at + 4, e.offset, true);
    v.setUint32(at + 8, e.size, true);
    out.fill(0, at + 12, at + 28);
    out.set(new TextEncoder().encode(e.label), at + 12);
    v.setUint32(at + 28, ((e.flags & ~FLAG_ENCRYPTED) | (e.encrypted ? FLAG_ENCRYPTED : 0)) >>> 0, true);
  });
  if (withMd5) {
    const at = entries.length * PARTITION_ROW_LENGTH;
    out[at] = 0xeb;
    out[at + 1] = 0xeb;
    // Bytes 2–15 stay 0xFF, as gen_esp32part writes them.
    out.set(createHash('md5').update(out.subarray(0, at)).digest(), at + 16);
  }
  return out;
}

function validateEntry(e: PartitionEntry, tableEnd: number): void {
  const bad = (what: string, hint?: string) =>
    new FirmwareError('firmware.partition.bad_entry', `partition "${e.label}": ${what}`, hint === undefined ? {} : { hint });
  const labelBytes = new TextEncoder().encode(e.label).length;
  if (labelBytes === 0 || labelBytes > LABEL_LENGTH) throw bad(`label is ${labelBytes} bytes, expected 1–${LABEL_LENGTH}`);
  for (const [name, value, max] of [['type', e.type, 0xfe], ['subtype', e.subtype, 0xff], ['offset', e.offset, 0xffffffff], ['size', e.size, 0xffffffff], ['flags', e.flags, 0xffffffff]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) throw bad(`${name} is ${value}, expected an integer 0…${max}`);
  }
  if (e.size === 0) throw bad('size is 0');
  if (e.offset + e.size > 0x100000000) throw bad(`ends at ${hex32(e.offset + e.size)}, beyond the 32-bit address space`);
  const align = e.type === PARTITION_TYPES.app ? APP_ALIGN : DATA_ALIGN;
  if (e.offset % align !== 0) {
    throw bad(`offset ${hex32(e.offset)} is not aligned to ${hex32(align)}`, `${partitionTypeName(e.type)} partitions start on ${hex32(align)} boundaries`);
  }
  if (e.offset < tableEnd) throw bad(`offset ${hex32(e.offset)} lies in the bootloader or partition table (below ${hex32(tableEnd)})`);
  if (e.type === PARTITION_TYPES.data && e.subtype === DATA_SUBTYPES.ota && e.size !== OTADATA_SIZE) {
    throw bad(`otadata size is ${hex32(e.size)}, must be exactly 0x2000`, 'two 4 KiB sectors, one per otadata copy');
  }
  if (e.type === PARTITION_TYPES.app && e.subtype !== 0 && !isOtaAppSubtype(e.subtype) && partitionSubtypeName(e.type, e.subtype).startsWith('0x')) {
    throw bad(`unknown app subtype 0x${e.subtype.toString(16)}`);
  }
}

export function findPartition(entries: readonly PartitionEntry[], label: string): PartitionEntry | undefined {
  return entries.find((e) => e.label === label);
}

/** The OTA app partitions (ota_0…ota_15) ordered by slot number, as the bootloader indexes them. */
export function otaAppPartitions(entries: readonly PartitionEntry[]): PartitionEntry[] {
  return entries.filter((e) => e.type === PARTITION_TYPES.app && isOtaAppSubtype(e.subtype)).sort((a, b) => a.subtype - b.subtype);
}
