// The root filesystem of the Mongoose OS double (spec mongoose-os.md §2.5, §7): LittleFS in
// the running slot's fs_N partition, read and written through the firmware host's flash, so
// with flash encryption on the blocks land on flash as ciphertext, as on a board.
import { parsePartitionTable, type PartitionEntry } from '../../firmware-js/partition/index.ts';
import { LittlefsImage, type LittlefsStat } from '../../firmware-js/littlefs/index.ts';
import type { FirmwareHost } from '../virtual-esp32/firmware-host.ts';

const SECTOR = 0x1000;
const PARTITION_TABLE_AT = 0x8000;

export class RootFs {
  private constructor(
    private readonly host: FirmwareHost,
    readonly partition: PartitionEntry,
    private fs: LittlefsImage,
    /** What flash holds now, so a change writes only the blocks it touched. */
    private onFlash: Uint8Array,
  ) {}

  /** Mounts fs_N for app slot N (fs_0 for a factory app), as vfs-common does. */
  static mount(host: FirmwareHost): RootFs {
    const table = parsePartitionTable(host.flash.read(PARTITION_TABLE_AT, 0xc00), { reportBadMd5: true });
    const label = `fs_${host.slot.otaIndex ?? 0}`;
    const partition = table.entries.find((e) => e.label === label);
    if (!partition) throw new Error(`no ${label} partition in the partition table`);
    const bytes = host.flash.read(partition.offset, partition.size);
    // Device opts {"bs":4096,"is":128}: 4096-byte blocks, 128-byte program unit (§7).
    return new RootFs(host, partition, new LittlefsImage(bytes.slice(), { blockSize: 4096, progSize: 128 }), bytes);
  }

  exists(path: string): boolean {
    return this.fs.exists(abs(path));
  }

  stat(path: string): LittlefsStat {
    return this.fs.stat(abs(path));
  }

  read(path: string): Uint8Array {
    return this.fs.readFile(abs(path));
  }

  list(dir = '/'): LittlefsStat[] {
    return this.fs.list(abs(dir));
  }

  write(path: string, data: Uint8Array): void {
    this.fs.writeFile(abs(path), data);
    this.sync();
  }

  remove(path: string): void {
    this.fs.remove(abs(path));
    this.sync();
  }

  /** Bytes in use and in total, for Sys.GetInfo's fs_size / fs_free. */
  usage(): { size: number; free: number } {
    const u = this.fs.usage();
    return { size: u.blockSize * u.blockCount, free: u.blockSize * (u.blockCount - u.usedBlocks) };
  }

  /** Erases and programs every 4 KiB block that differs from flash (encrypted when the chip encrypts). */
  private sync(): void {
    const now = this.fs.image();
    for (let at = 0; at < now.length; at += SECTOR) {
      const block = now.subarray(at, at + SECTOR);
      if (equal(block, this.onFlash.subarray(at, at + SECTOR))) continue;
      this.host.flash.erase(this.partition.offset + at, SECTOR);
      this.host.flash.write(this.partition.offset + at, block);
    }
    this.onFlash = now;
  }
}

/** RPC file names are relative to the root ("conf9.json" is "/conf9.json"). */
export function abs(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
