// A flash plan: the list of {address, bytes, encrypt} regions that put a bundle
// (plus one board's own files) on flash, the way `mos flash` places parts
// (spec mongoose-os.md §1.4): `ptn` parts at their partition's offset (+ addr for
// non-app parts), fill parts generated, flash:false parts skipped. Pure, so a
// plan can be built offline, inspected and diffed.
import type { Bundle, ManifestPart } from './bundle/index.ts';
import { partData } from './bundle/index.ts';
import { FirmwareError } from './errors.ts';
import { composeDeviceFs } from './littlefs/index.ts';
import { findPartition, parsePartitionTable, type PartitionEntry } from './partition/index.ts';

export interface FlashRegion {
  /** The manifest part this region comes from (`boot`, `pt`, `app`, `fs`, …). */
  part: string;
  address: number;
  bytes: Uint8Array;
  /** True when the region must be written encrypted on a board with flash encryption on. */
  encrypt: boolean;
  /** The chip the bundle is built for (manifest `platform`): installers refuse any other (checkRegionsChip). */
  platform: string;
}

export interface FlashPlanOptions {
  /** Per-device files written into the fs part (conf9.json, device.crt, …). */
  deviceFiles?: Record<string, Uint8Array>;
  /** Refuse regions that end beyond this flash size (bytes). */
  flashSize?: number;
  /** The fs part to put device files into; defaults to the part of type `fs`. */
  fsPart?: string;
  /** The board's chip (ChipFacts.chip): a bundle built for another is refused (checkBundleChip). */
  chip?: string;
}

const SECTOR = 0x1000;
/** Partition subtypes the 2nd-stage bootloader always encrypts: otadata and nvs_keys (spec §5.1). */
const ALWAYS_ENCRYPTED_DATA_SUBTYPES = new Set([0x00, 0x04]);

/** "ESP32", "esp32", "ESP32-C3" and "esp32c3" name the chip the same way. */
function chipKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * The one check every path that installs a bundle makes before it writes (or burns)
 * anything: the manifest's `platform` must be the board's chip. An esp32c3 image on an
 * ESP32 does not boot, and its partition layout overwrites whatever the board held.
 */
export function checkBundleChip(platform: string, chip: string, what = 'the firmware bundle'): void {
  if (chipKey(platform) === chipKey(chip)) return;
  throw new FirmwareError('flash.bundle.wrong_chip', `${what} is built for ${platform}, but the board is an ${chip}; nothing was written`, {
    hint: `use a bundle built for ${chip.toLowerCase()} (manifest "platform"), or connect the ${platform} board it is for`,
  });
}

/** checkBundleChip for planned regions (those from a bundle carry its platform; raw images carry none). */
export function checkRegionsChip(regions: readonly { platform?: string; name?: string }[], chip: string): void {
  for (const r of regions) if (r.platform !== undefined) checkBundleChip(r.platform, chip);
}

export function planFlash(bundle: Bundle, opts: FlashPlanOptions = {}): FlashRegion[] {
  if (opts.chip !== undefined) checkBundleChip(bundle.manifest.platform, opts.chip, bundleTitle(bundle));
  const table = partitionTableOf(bundle);
  const fsPart = opts.fsPart ?? Object.keys(bundle.manifest.parts).find((n) => bundle.manifest.parts[n]?.type === 'fs');
  if (opts.deviceFiles && Object.keys(opts.deviceFiles).length > 0 && fsPart === undefined) {
    throw new FirmwareError('firmware.plan.no_fs_part', 'the bundle has no part of type "fs" to hold the device files', {
      hint: 'device files need a LittleFS fs part in the bundle',
    });
  }
  const regions: FlashRegion[] = [];
  for (const [name, part] of Object.entries(bundle.manifest.parts)) {
    if (part.flash === false) continue;
    let bytes = partData(bundle, name);
    if (name === fsPart && opts.deviceFiles) bytes = composeDeviceFs(bytes, opts.deviceFiles);
    const partition = part.ptn === undefined ? undefined : requirePartition(table, part.ptn, name);
    const address = regionAddress(name, part, partition);
    if (partition) checkFits(name, address, bytes.length, partition);
    regions.push({ part: name, address, bytes: padToSector(bytes), encrypt: mustEncrypt(name, part, partition), platform: bundle.manifest.platform });
  }
  regions.sort((a, b) => a.address - b.address);
  checkNoOverlap(regions);
  if (opts.flashSize !== undefined) checkFlashSize(regions, opts.flashSize);
  return regions;
}

function bundleTitle(bundle: Bundle): string {
  return `the bundle ${bundle.manifest.name ?? ''} ${bundle.manifest.version}`.replace('  ', ' ');
}

function partitionTableOf(bundle: Bundle): PartitionEntry[] | undefined {
  const ptPart = Object.entries(bundle.manifest.parts).find(([n, p]) => n === 'pt' || p.type === 'pt');
  if (!ptPart) return undefined;
  return parsePartitionTable(partData(bundle, ptPart[0])).entries;
}

function requirePartition(table: PartitionEntry[] | undefined, label: string, part: string): PartitionEntry {
  const found = table ? findPartition(table, label) : undefined;
  if (!found) {
    throw new FirmwareError(
      'firmware.plan.unknown_partition',
      `part "${part}" names partition "${label}", which ${table ? 'the partition table does not have' : 'cannot be resolved: the bundle has no "pt" part'}`,
      { hint: table ? `partitions: ${table.map((p) => p.label).join(', ')}` : undefined },
    );
  }
  return found;
}

function regionAddress(name: string, part: ManifestPart, partition: PartitionEntry | undefined): number {
  if (partition) return part.type === 'app' ? partition.offset : partition.offset + (part.addr ?? 0);
  if (part.addr === undefined) {
    throw new FirmwareError('firmware.plan.no_address', `part "${name}" has neither "addr" nor "ptn"`, {
      hint: 'every flashable part needs an absolute addr or a partition label',
    });
  }
  return part.addr;
}

function checkFits(name: string, address: number, length: number, partition: PartitionEntry): void {
  if (address + length > partition.offset + partition.size) {
    throw new FirmwareError(
      'firmware.plan.part_too_big',
      `part "${name}" is ${length} bytes at 0x${address.toString(16)}, beyond partition "${partition.label}" ` +
        `(0x${partition.offset.toString(16)} + 0x${partition.size.toString(16)})`,
    );
  }
}

/**
 * The manifest says what mos encrypts; the partition table says what the bootloader
 * decrypts. They must agree, or the board reads ciphertext as plaintext (or the
 * reverse) — so a disagreement is an error, not a guess.
 */
function mustEncrypt(name: string, part: ManifestPart, partition: PartitionEntry | undefined): boolean {
  const declared = part.encrypt === true;
  if (!partition) return declared;
  const byTable =
    partition.type === 0 || partition.encrypted || (partition.type === 1 && ALWAYS_ENCRYPTED_DATA_SUBTYPES.has(partition.subtype));
  if (declared !== byTable) {
    throw new FirmwareError(
      'firmware.plan.encrypt_mismatch',
      `part "${name}" has encrypt=${declared} but partition "${partition.label}" is ${byTable ? '' : 'not '}read encrypted by the bootloader`,
      { hint: 'fix the manifest "encrypt" flag or the partition table "encrypted" flag so they agree' },
    );
  }
  return declared;
}

function padToSector(bytes: Uint8Array): Uint8Array {
  const padded = Math.ceil(bytes.length / SECTOR) * SECTOR;
  if (padded === bytes.length) return bytes;
  const out = new Uint8Array(padded).fill(0xff);
  out.set(bytes);
  return out;
}

function checkNoOverlap(regions: readonly FlashRegion[]): void {
  for (let i = 1; i < regions.length; i++) {
    const prev = regions[i - 1] as FlashRegion;
    const cur = regions[i] as FlashRegion;
    if (prev.address + prev.bytes.length > cur.address) {
      throw new FirmwareError(
        'firmware.plan.overlap',
        `parts "${prev.part}" (0x${prev.address.toString(16)}, ${prev.bytes.length} bytes) and "${cur.part}" (0x${cur.address.toString(16)}) overlap`,
      );
    }
  }
}

function checkFlashSize(regions: readonly FlashRegion[], flashSize: number): void {
  for (const r of regions) {
    if (r.address + r.bytes.length > flashSize) {
      throw new FirmwareError(
        'firmware.plan.beyond_flash',
        `part "${r.part}" ends at 0x${(r.address + r.bytes.length).toString(16)}, beyond the ${flashSize / 0x100000} MB flash`,
        { hint: 'use a board with more flash or a smaller partition layout' },
      );
    }
  }
}
