// The 2nd-stage bootloader's view of the partition table at 0x8000 and of otadata (spec
// esp32-rom-efuse-crypto.md §6.3–§6.4): magic rows, the MD5 row, size limits, and which app
// slot the OTA sequence numbers select.
import { createHash } from 'node:crypto';
import type { FlashView } from './flash-view.ts';

export const PARTITION_TABLE_OFFSET = 0x8000;
const MAX_ROWS = 96;

export interface PartitionEntry {
  type: number;
  subtype: number;
  offset: number;
  size: number;
  label: string;
  flags: number;
}

export type TableCheck = { ok: true; entries: PartitionEntry[] } | { ok: false; code: string; message: string };

export function checkPartitionTable(view: FlashView, chipSize: number): TableCheck {
  const raw = view.read(PARTITION_TABLE_OFFSET, MAX_ROWS * 32);
  const entries: PartitionEntry[] = [];
  for (let row = 0; row < MAX_ROWS; row++) {
    const r = raw.subarray(row * 32, row * 32 + 32);
    const dv = new DataView(r.buffer, r.byteOffset, 32);
    const magic = dv.getUint16(0, true);
    if (magic === 0x50aa) {
      const e: PartitionEntry = {
        type: r[2] ?? 0,
        subtype: r[3] ?? 0,
        offset: dv.getUint32(4, true),
        size: dv.getUint32(8, true),
        label: latin1(r.subarray(12, 28)),
        flags: dv.getUint32(28, true),
      };
      if (e.offset + e.size > chipSize) {
        return { ok: false, code: 'partition_too_big', message: `partition ${row} invalid - offset 0x${e.offset.toString(16)} size 0x${e.size.toString(16)} exceeds flash chip size 0x${chipSize.toString(16)}` };
      }
      entries.push(e);
      continue;
    }
    if (magic === 0xebeb) {
      const md5 = createHash('md5').update(raw.subarray(0, row * 32)).digest();
      if (!md5.equals(r.subarray(16, 32))) return { ok: false, code: 'bad_md5', message: 'incorrect checksum (MD5) of the partition table' };
      continue;
    }
    if (magic === 0xffff && r[2] === 0xff && r[3] === 0xff) {
      if (entries.length === 0) return { ok: false, code: 'empty_table', message: 'partition table is empty (nothing flashed at 0x8000?)' };
      return { ok: true, entries };
    }
    return { ok: false, code: 'bad_magic', message: `partition ${row} invalid magic number 0x${magic.toString(16)} (table unreadable — wrong key, or plaintext on an encrypted chip?)` };
  }
  return { ok: false, code: 'no_terminator', message: `partition table has no end marker within ${MAX_ROWS} rows` };
}

function latin1(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder('latin1').decode(end < 0 ? b : b.subarray(0, end));
}

/** esp_rom_crc32_le(0xFFFFFFFF, seq, 4) = zlib crc32 with seed 0xFFFFFFFF (§6.4). */
export function otaSeqCrc(seq: number): number {
  // zlib's crc32(data, seed) starts its register at seed ^ 0xFFFFFFFF, i.e. 0 here.
  let crc = 0;
  const bytes = [seq & 0xff, (seq >>> 8) & 0xff, (seq >>> 16) & 0xff, (seq >>> 24) & 0xff];
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return ~crc >>> 0;
}

export interface SlotChoice {
  app: PartitionEntry;
  reason: string;
}

/** Picks the app partition to boot: the valid otadata copy with the highest seq, else factory, else the first app. */
export function selectBootPartition(view: FlashView, entries: PartitionEntry[]): SlotChoice | { error: string } {
  const apps = entries.filter((e) => e.type === 0);
  const otaApps = apps.filter((e) => e.subtype >= 0x10 && e.subtype < 0x20).sort((a, b) => a.subtype - b.subtype);
  const factory = apps.find((e) => e.subtype === 0x00);
  const otadata = entries.find((e) => e.type === 1 && e.subtype === 0x00);
  if (otadata && otaApps.length) {
    let best: { seq: number; copy: number } | undefined;
    for (const copy of [0, 1]) {
      const r = view.read(otadata.offset + copy * 0x1000, 32);
      const dv = new DataView(r.buffer, r.byteOffset, 32);
      const seq = dv.getUint32(0, true);
      const state = dv.getUint32(24, true);
      const crc = dv.getUint32(28, true);
      const valid = seq !== 0xffffffff && state !== 3 && state !== 4 && crc === otaSeqCrc(seq);
      if (valid && (!best || seq > best.seq)) best = { seq, copy };
    }
    if (best) {
      const slot = (best.seq - 1) % otaApps.length;
      const app = otaApps[slot] as PartitionEntry;
      return { app, reason: `otadata copy ${best.copy}: seq ${best.seq} selects ota_${slot} (${app.label})` };
    }
  }
  if (factory) return { app: factory, reason: otadata ? 'otadata empty or invalid: booting factory app' : 'no otadata: booting factory app' };
  const first = otaApps[0] ?? apps[0];
  if (first) return { app: first, reason: `no valid otadata and no factory app: trying ${first.label}` };
  return { error: 'No bootable app partitions in the partition table' };
}
