// Where the double keeps the OTA boot state (spec mongoose-os.md §2.3, §2.5, §9;
// esp32-rom-efuse-crypto.md §6.4): otadata selects the app slot as the bootloader reads it,
// and the boot-state word (old slot | new slot << 4 | 0x100 first boot | 0x200 merge FS) is
// the u32 `update` in NVS namespace `mgos`, with the old FS as the string `update_old_fs`,
// in ESP-IDF's own NVS format (nvs.ts) — raw, as the nvs partition is never encrypted.
import { OTADATA_SECTOR, OTADATA_SIZE, otadataCrc, parseOtadata } from '../../firmware-js/partition/otadata.ts';
import { parsePartitionTable, type PartitionEntry } from '../../firmware-js/partition/index.ts';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';
import { NvsStore } from './nvs.ts';

const SECTOR = 0x1000;
const NS = 'mgos';
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

/** The updater's NVS, through esp_flash_read/write (no encryption engine). */
export function bootStateNvs(host: FirmwareHost, layout: OtaLayout): NvsStore {
  const raw = { read: (o: number, l: number) => host.flash.readRaw(o, l), write: (o: number, d: Uint8Array) => host.flash.writeRaw(o, d), erase: (o: number, l: number) => host.flash.erase(o, l) };
  return new NvsStore(raw, layout.nvs.offset, layout.nvs.size);
}

export function encodeBootWord(w: BootWord): number {
  return (w.oldSlot & 0xf) | ((w.newSlot & 0xf) << 4) | (w.firstBoot ? FIRST_BOOT : 0) | (w.mergeFs ? MERGE_FS : 0);
}

export function decodeBootWord(word: number): BootWord {
  return { oldSlot: word & 0xf, newSlot: (word >>> 4) & 0xf, firstBoot: (word & FIRST_BOOT) !== 0, mergeFs: (word & MERGE_FS) !== 0 };
}

/** The persisted boot-state word, or undefined (no `update` key = nothing pending). */
export function readBootWord(host: FirmwareHost, layout: OtaLayout): BootWord | undefined {
  const v = bootStateNvs(host, layout).get(NS, 'update');
  return typeof v === 'number' ? decodeBootWord(v) : undefined;
}

export function writeBootWord(host: FirmwareHost, layout: OtaLayout, w: BootWord): void {
  bootStateNvs(host, layout).set(NS, 'update', { type: 'u32', value: encodeBootWord(w) });
}

/** `update_old_fs`: "<fs type> <fs opts json>" of the FS the update leaves, for the first-boot merge. */
export function writeOldFs(host: FirmwareHost, layout: OtaLayout, text: string): void {
  bootStateNvs(host, layout).set(NS, 'update_old_fs', { type: 'str', value: text });
}

export function readOldFs(host: FirmwareHost, layout: OtaLayout): string | undefined {
  const v = bootStateNvs(host, layout).get(NS, 'update_old_fs');
  return typeof v === 'string' ? v : undefined;
}
