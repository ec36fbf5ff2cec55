// Seeded mutation fuzz of parsePartitionTable: only typed FirmwareErrors, several
// distinct codes, and any table that parses also rebuilds to the same rows when it is valid.
import { describe, expect, it } from 'vitest';
import { FirmwareError } from '../errors.ts';
import { MGOS_ESP32_PARTITIONS, buildPartitionTable, parsePartitionTable } from '../partition/index.ts';
import { SeededRandom } from './seeded-random.ts';

// One full 0xC00 table; the others are cut after the terminator to keep mutation cheap.
const SEEDS = [
  buildPartitionTable(MGOS_ESP32_PARTITIONS),
  buildPartitionTable(MGOS_ESP32_PARTITIONS).subarray(0, 0x120),
  buildPartitionTable(MGOS_ESP32_PARTITIONS, { md5: false }).subarray(0, 0x100),
  buildPartitionTable([{ label: 'factory', type: 0, subtype: 0, offset: 0x10000, size: 0x100000, flags: 0, encrypted: false }]).subarray(0, 0x100),
];

describe('parsePartitionTable fuzz', () => {
  it('10,000+ mutated tables: only FirmwareError, several distinct codes', () => {
    const rnd = new SeededRandom(0x9a27);
    const codes = new Map<string, number>();
    let parsed = 0;
    for (let i = 0; i < 12_000; i++) {
      let input = rnd.pick(SEEDS);
      for (let m = rnd.int(1, 3); m > 0; m--) input = rnd.mutate(input);
      try {
        const t = parsePartitionTable(input, rnd.int(0, 3) === 0 ? { flashSize: 0x400000 } : {});
        parsed++;
        if (t.entries.length > 95 || t.rows > 95) throw new Error(`case ${i}: ${t.rows} rows`);
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`, { cause: e });
        if (!e.code.startsWith('firmware.partition.')) throw new Error(`case ${i}: unexpected code ${e.code}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    expect(parsed).toBeGreaterThan(500);
    expect([...codes.keys()]).toEqual(expect.arrayContaining(['firmware.partition.bad_md5', 'firmware.partition.bad_row', 'firmware.partition.truncated']));
  });
});
