// The default Mongoose OS ESP32 flash layout (spec mongoose-os.md §7,
// platforms/esp32xx/partitions_mgos.csv with the build's default variables).
import type { PartitionEntry } from './types.ts';

/** Fixed regions outside the partition table. */
export const MGOS_ESP32_OFFSETS = Object.freeze({
  bootloader: 0x1000,
  partitionTable: 0x8000,
});

const entry = (label: string, type: number, subtype: number, offset: number, size: number, encrypted: boolean): PartitionEntry =>
  Object.freeze({ label, type, subtype, offset, size, flags: encrypted ? 1 : 0, encrypted });

/**
 * fs_0/fs_1 use subtype spiffs (0x82) even with LittleFS, the default root FS since
 * mid-2022; the CSV marks them encrypted unless the FS type is SPIFFS, so they are
 * encrypted here.
 */
export const MGOS_ESP32_PARTITIONS: readonly PartitionEntry[] = Object.freeze([
  entry('nvs', 0x01, 0x02, 0x9000, 0x4000, false),
  entry('otadata', 0x01, 0x00, 0xd000, 0x2000, true),
  entry('app_0', 0x00, 0x10, 0x10000, 0x180000, true),
  entry('fs_0', 0x01, 0x82, 0x190000, 0x40000, true),
  entry('app_1', 0x00, 0x11, 0x1d0000, 0x180000, true),
  entry('fs_1', 0x01, 0x82, 0x350000, 0x40000, true),
]);
