// Partition tables (spec esp32-rom-efuse-crypto.md §6.3) and the Mongoose OS default
// layout (mongoose-os.md §7). esptool 5.6 ships no gen_esp32part, so the spec's derived
// vector (checked against gen_esp32part by the spec author) is the oracle here.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, hex, view } from '../bytes.ts';
import {
  APP_SUBTYPES,
  DATA_SUBTYPES,
  MGOS_ESP32_OFFSETS,
  MGOS_ESP32_PARTITIONS,
  PARTITION_TYPES,
  buildPartitionTable,
  findPartition,
  otaAppPartitions,
  parsePartitionTable,
  partitionSubtypeFromName,
  partitionSubtypeName,
  partitionTypeFromName,
  partitionTypeName,
  type PartitionEntry,
} from '../partition/index.ts';
import { codeOf } from './error-codes.ts';

const p = (label: string, type: number, subtype: number, offset: number, size: number, encrypted = false): PartitionEntry => ({
  label,
  type,
  subtype,
  offset,
  size,
  flags: encrypted ? 1 : 0,
  encrypted,
});

const SINGLE_APP = [p('nvs', 1, 2, 0x9000, 0x6000), p('phy_init', 1, 1, 0xf000, 0x1000), p('factory', 0, 0, 0x10000, 0x100000)];
const SPEC_VECTOR =
  'aa50010200900000006000006e76730000000000000000000000000000000000' +
  'aa50010100f00000001000007068795f696e6974000000000000000000000000' +
  'aa5000000000010000001000666163746f727900000000000000000000000000' +
  'ebebfffffffffffffffffffffffffffff4ad4f4538564b5d7435b62c75b69524';

describe('buildPartitionTable', () => {
  it('reproduces the spec §6.3 single-app vector byte for byte, padded with 0xFF to 0xC00', () => {
    const table = buildPartitionTable(SINGLE_APP);
    expect(table.length).toBe(0xc00);
    expect(hex(table.subarray(0, 128))).toBe(SPEC_VECTOR);
    expect(table.subarray(128).every((b) => b === 0xff)).toBe(true);
  });

  it('omits the MD5 row on request', () => {
    const table = buildPartitionTable(SINGLE_APP, { md5: false });
    expect(hex(table.subarray(0, 96))).toBe(SPEC_VECTOR.slice(0, 192));
    expect(table.subarray(96).every((b) => b === 0xff)).toBe(true);
    expect(parsePartitionTable(table).md5).toMatchObject({ present: false, stored: null });
  });

  it('writes the encrypted flag into bit 0 and keeps other flag bits', () => {
    const table = buildPartitionTable([{ ...p('data', 1, 0x81, 0x10000, 0x1000, true), flags: 0x2 }]);
    expect(view(table).getUint32(28, true)).toBe(3);
    expect(parsePartitionTable(table).entries[0]).toMatchObject({ flags: 3, encrypted: true });
  });

  it.each([
    ['overlap', [p('a', 1, 2, 0x9000, 0x2000), p('b', 1, 1, 0xa000, 0x1000)], 'firmware.partition.overlap'],
    ['duplicate label', [p('a', 1, 2, 0x9000, 0x1000), p('a', 1, 1, 0xa000, 0x1000)], 'firmware.partition.duplicate_label'],
    ['misaligned app', [p('app', 0, 0, 0x11000, 0x10000)], 'firmware.partition.bad_entry'],
    ['misaligned data', [p('d', 1, 2, 0x9800, 0x1000)], 'firmware.partition.bad_entry'],
    ['otadata not 0x2000', [p('otadata', 1, 0, 0xd000, 0x1000)], 'firmware.partition.bad_entry'],
    ['label too long', [p('seventeen_chars_x', 1, 2, 0x9000, 0x1000)], 'firmware.partition.bad_entry'],
    ['inside the table sector', [p('d', 1, 2, 0x8000, 0x1000)], 'firmware.partition.bad_entry'],
    ['zero size', [p('d', 1, 2, 0x9000, 0)], 'firmware.partition.bad_entry'],
    ['too many rows', Array.from({ length: 95 }, (_, i) => p(`p${i}`, 1, 0x81, 0x10000 + i * 0x1000, 0x1000)), 'firmware.partition.too_many'],
  ])('rejects %s', (_, entries, code) => {
    expect(codeOf(() => buildPartitionTable(entries as PartitionEntry[]))).toBe(code);
  });

  it('fits 94 partitions with the MD5 row and the terminator in 0xC00 bytes', () => {
    const entries = Array.from({ length: 94 }, (_, i) => p(`p${i}`, 1, 0x81, 0x10000 + i * 0x1000, 0x1000));
    const table = buildPartitionTable(entries);
    expect(parsePartitionTable(table).entries).toHaveLength(94);
  });
});

describe('parsePartitionTable', () => {
  it('parses the spec vector with its MD5', () => {
    const t = parsePartitionTable(buildPartitionTable(SINGLE_APP));
    expect(t.entries).toEqual(SINGLE_APP);
    expect(t.md5).toEqual({ present: true, ok: true, stored: 'f4ad4f4538564b5d7435b62c75b69524', computed: 'f4ad4f4538564b5d7435b62c75b69524' });
    expect(t.md5.computed).toBe(createHash('md5').update(fromHex(SPEC_VECTOR.slice(0, 192))).digest('hex'));
    expect(t.rows).toBe(4);
  });

  it('round-trips random valid tables', () => {
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    for (let round = 0; round < 50; round++) {
      const entries: PartitionEntry[] = [];
      let at = 0x9000;
      const n = 1 + (next() % 20);
      for (let i = 0; i < n; i++) {
        const app = next() % 3 === 0;
        if (app) at = Math.ceil(at / 0x10000) * 0x10000;
        const size = (1 + (next() % 40)) * 0x1000;
        const enc = next() % 2 === 0;
        entries.push(p(`part${i}`, app ? 0 : 1, app ? 0x10 + (i % 16) : 0x80 + (next() % 4), at, size, enc));
        at += size + (next() % 3) * 0x1000;
      }
      const table = buildPartitionTable(entries, { md5: round % 2 === 0 });
      const back = parsePartitionTable(table).entries;
      expect(back).toEqual(entries);
      expect(Buffer.from(buildPartitionTable(back, { md5: round % 2 === 0 })).equals(Buffer.from(table))).toBe(true);
    }
  });

  it('accepts a 4 KiB sector and stops at the terminator', () => {
    const sector = new Uint8Array(0x1000).fill(0xff);
    sector.set(buildPartitionTable(SINGLE_APP));
    expect(parsePartitionTable(sector).entries).toHaveLength(3);
  });

  it('rejects a wrong MD5', () => {
    const t = buildPartitionTable(SINGLE_APP);
    t[120] = (t[120] as number) ^ 1; // inside the stored digest
    expect(codeOf(() => parsePartitionTable(t))).toBe('firmware.partition.bad_md5');
    expect(parsePartitionTable(t, { reportBadMd5: true }).md5).toMatchObject({ present: true, ok: false, computed: 'f4ad4f4538564b5d7435b62c75b69524' });
    // Bytes 2–15 of the MD5 row are filler the bootloader does not check.
    const filler = buildPartitionTable(SINGLE_APP);
    filler[100] = 0;
    expect(parsePartitionTable(filler).md5.ok).toBe(true);
    const changedEntry = buildPartitionTable(SINGLE_APP);
    changedEntry[8] = (changedEntry[8] as number) ^ 0x10; // nvs size
    expect(codeOf(() => parsePartitionTable(changedEntry))).toBe('firmware.partition.bad_md5');
  });

  it('rejects junk rows, e.g. ciphertext read as plaintext', () => {
    const t = buildPartitionTable(SINGLE_APP);
    t[32] = 0x12;
    expect(() => parsePartitionTable(t)).toThrow(/row 1 .*0x5012/);
    expect(codeOf(() => parsePartitionTable(t))).toBe('firmware.partition.bad_row');
    expect(codeOf(() => parsePartitionTable(new Uint8Array(0xc00)))).toBe('firmware.partition.bad_row');
  });

  it('rejects a missing terminator and short input', () => {
    const rows = Array.from({ length: 96 }, (_, i) => p(`p${i}`, 1, 0x81, 0x10000 + i * 0x1000, 0x1000));
    const bytes = new Uint8Array(96 * 32);
    // Build row by row (buildPartitionTable refuses so many) by reusing its encoding of one row.
    rows.forEach((r, i) => bytes.set(buildPartitionTable([r], { md5: false }).subarray(0, 32), i * 32));
    expect(codeOf(() => parsePartitionTable(bytes))).toBe('firmware.partition.no_terminator');
    expect(codeOf(() => parsePartitionTable(buildPartitionTable(SINGLE_APP).subarray(0, 100)))).toBe('firmware.partition.truncated');
    expect(codeOf(() => parsePartitionTable(new Uint8Array(0)))).toBe('firmware.partition.truncated');
  });

  it('rejects overlapping entries and a second MD5 row', () => {
    const a = buildPartitionTable([p('a', 1, 2, 0x9000, 0x1000)], { md5: false }).subarray(0, 32);
    const b = buildPartitionTable([p('b', 1, 2, 0x9000, 0x1000)], { md5: false }).subarray(0, 32);
    const t = new Uint8Array(0xc00).fill(0xff);
    t.set(a, 0);
    t.set(b, 32);
    expect(codeOf(() => parsePartitionTable(t))).toBe('firmware.partition.overlap');
    const twoMd5 = buildPartitionTable(SINGLE_APP);
    twoMd5.set(twoMd5.subarray(96, 128), 128);
    expect(codeOf(() => parsePartitionTable(twoMd5))).toBe('firmware.partition.duplicate_md5');
  });

  it('checks against the flash size like esp_partition_table_verify', () => {
    const table = buildPartitionTable(MGOS_ESP32_PARTITIONS);
    expect(parsePartitionTable(table, { flashSize: 0x400000 }).entries).toHaveLength(6);
    expect(codeOf(() => parsePartitionTable(table, { flashSize: 0x200000 }))).toBe('firmware.partition.beyond_flash');
  });
});

describe('Mongoose OS default layout', () => {
  it('is exactly the spec mongoose-os.md §7 table', () => {
    expect(MGOS_ESP32_OFFSETS).toEqual({ bootloader: 0x1000, partitionTable: 0x8000 });
    expect(MGOS_ESP32_PARTITIONS.map((e) => [e.label, partitionTypeName(e.type), partitionSubtypeName(e.type, e.subtype), e.offset, e.size, e.encrypted])).toEqual([
      ['nvs', 'data', 'nvs', 0x9000, 0x4000, false],
      ['otadata', 'data', 'ota', 0xd000, 0x2000, true],
      ['app_0', 'app', 'ota_0', 0x10000, 0x180000, true],
      ['fs_0', 'data', 'spiffs', 0x190000, 0x40000, true],
      ['app_1', 'app', 'ota_1', 0x1d0000, 0x180000, true],
      ['fs_1', 'data', 'spiffs', 0x350000, 0x40000, true],
    ]);
  });

  it('builds, parses back and fits a 4 MB flash (ends at 0x390000)', () => {
    const table = buildPartitionTable(MGOS_ESP32_PARTITIONS);
    const t = parsePartitionTable(table, { flashSize: 4 << 20 });
    expect(t.entries).toEqual(MGOS_ESP32_PARTITIONS);
    expect(t.md5.ok).toBe(true);
    const last = t.entries[t.entries.length - 1] as PartitionEntry;
    expect(last.offset + last.size).toBe(0x390000);
    expect(findPartition(t.entries, 'fs_0')?.offset).toBe(0x190000);
    expect(findPartition(t.entries, 'nope')).toBeUndefined();
    expect(otaAppPartitions(t.entries).map((e) => e.label)).toEqual(['app_0', 'app_1']);
  });

  it('is frozen so nobody edits the shared default', () => {
    expect(Object.isFrozen(MGOS_ESP32_PARTITIONS)).toBe(true);
    expect(Object.isFrozen(MGOS_ESP32_PARTITIONS[0])).toBe(true);
  });
});

describe('type and subtype names', () => {
  it('maps the gen_esp32part names both ways', () => {
    expect(PARTITION_TYPES).toMatchObject({ app: 0, data: 1 });
    expect(APP_SUBTYPES).toMatchObject({ factory: 0, ota_0: 0x10, ota_15: 0x1f, test: 0x20 });
    expect(DATA_SUBTYPES).toMatchObject({ ota: 0, phy: 1, nvs: 2, coredump: 3, nvs_keys: 4, efuse: 5, fat: 0x81, spiffs: 0x82, littlefs: 0x83 });
    expect(partitionTypeFromName('data')).toBe(1);
    expect(partitionTypeFromName('0x40')).toBe(0x40);
    expect(partitionSubtypeFromName(0, 'ota_3')).toBe(0x13);
    expect(partitionSubtypeFromName(1, 'littlefs')).toBe(0x83);
    expect(partitionSubtypeName(0x40, 7)).toBe('0x07');
    expect(codeOf(() => partitionSubtypeFromName(1, 'nvss'))).toBe('firmware.partition.bad_name');
  });
});
