// Where the double keeps the OTA boot state (spec mongoose-os.md §2.3, §2.5;
// esp32-rom-efuse-crypto.md §6.4): otadata selects the app slot as the bootloader reads it,
// and a boot-state word (old slot | new slot << 4 | 0x100 first boot | 0x200 merge FS).
// The word lives in a 16-byte record in the last sector of `nvs`, NOT in ESP-IDF's NVS page
// format (namespace `mgos`, key `update`) — the NVS codec and the esp-idf-nvs-partition-gen
// oracle check of §9 are not built. It goes through the flash engine like every write here.
import { crc32 } from '../../firmware-js/crc.ts';
import { OTADATA_SECTOR, OTADATA_SIZE, otadataCrc, parseOtadata } from '../../firmware-js/partition/otadata.ts';
import { parsePartitionTable, type PartitionEntry } from '../../firmware-js/partition/index.ts';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';

const SECTOR = 0x1000;
const RECORD_MAGIC = 0x5355474d; // "MGUS"
export const FIRST_BOOT = 0x100;
export const MERGE_FS = 0x200;

export interface BootWord {
  oldSlot: number;
  newSlot: number;
  firstBoot: boolean;
  mergeFs: boolean;
}

export interface OtaLayout {
  otadata: PartitionEntry;
  nvs: PartitionEntry;
  app: [PartitionEntry, PartitionEntry];
  fs: [PartitionEntry, PartitionEntry];
}

export function otaLayout(host: FirmwareHost): OtaLayout {
  const table = parsePartitionTable(host.flash.read(0x8000, 0xc00), { reportBadMd5: true });
  const find = (label: string) => {
    const e = table.entries.find((p) => p.label === label);
    if (!e) throw new Error(`no ${label} partition in the partition table`);
    return e;
  };
  return { otadata: find('otadata'), nvs: find('nvs'), app: [find('app_0'), find('app_1')], fs: [find('fs_0'), find('fs_1')] };
}

/** The slot otadata selects now (what the next boot runs), or undefined when no copy is valid. */
export function otadataSlot(host: FirmwareHost, layout: OtaLayout): number | undefined {
  const c = parseOtadata(host.flash.read(layout.otadata.offset, OTADATA_SIZE)).bootSlot(2);
  return c.kind === 'ota' ? c.index : undefined;
}

/**
 * esp_ota_set_boot_partition: the copy that is not active gets seq+1 (so a power cut during
 * its erase leaves the active copy in charge). No write when the slot is already selected.
 */
export function selectSlot(host: FirmwareHost, layout: OtaLayout, slot: number): void {
  const od = parseOtadata(host.flash.read(layout.otadata.offset, OTADATA_SIZE));
  const active = od.active;
  if (active && (active.seq - 1) % 2 === slot) return;
  const seq = active ? active.seq + 1 : slot + 1;
  const copy = active ? 1 - active.copy : 0;
  const entry = new Uint8Array(32).fill(0xff);
  const v = new DataView(entry.buffer);
  v.setUint32(0, seq, true);
  v.setUint32(28, otadataCrc(seq), true);
  const at = layout.otadata.offset + copy * OTADATA_SECTOR;
  host.flash.erase(at, SECTOR);
  host.flash.write(at, entry);
}

function recordAt(layout: OtaLayout): number {
  return layout.nvs.offset + layout.nvs.size - SECTOR;
}

/** The persisted boot-state word, or undefined (erased, torn or never written = nothing pending). */
export function readBootWord(host: FirmwareHost, layout: OtaLayout): BootWord | undefined {
  const r = host.flash.read(recordAt(layout), 16);
  const v = new DataView(r.buffer, r.byteOffset, 16);
  if (v.getUint32(0, true) !== RECORD_MAGIC) return undefined;
  const word = v.getUint32(4, true);
  if (v.getUint32(8, true) !== crc32(r.subarray(0, 8))) return undefined;
  return { oldSlot: word & 0xf, newSlot: (word >>> 4) & 0xf, firstBoot: (word & FIRST_BOOT) !== 0, mergeFs: (word & MERGE_FS) !== 0 };
}

export function writeBootWord(host: FirmwareHost, layout: OtaLayout, w: BootWord): void {
  const r = new Uint8Array(16).fill(0xff);
  const v = new DataView(r.buffer);
  v.setUint32(0, RECORD_MAGIC, true);
  v.setUint32(4, (w.oldSlot & 0xf) | ((w.newSlot & 0xf) << 4) | (w.firstBoot ? FIRST_BOOT : 0) | (w.mergeFs ? MERGE_FS : 0), true);
  v.setUint32(8, crc32(r.subarray(0, 8)), true);
  host.flash.erase(recordAt(layout), SECTOR);
  host.flash.write(recordAt(layout), r);
}
