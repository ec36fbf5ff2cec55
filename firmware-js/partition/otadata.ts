// otadata: two 32-byte esp_ota_select_entry_t copies, one per 4 KiB sector, and
// the bootloader's rules for picking the boot slot (spec esp32-rom-efuse-crypto.md §6.4).
import { hex32, view } from '../bytes.ts';
import { crc32 } from '../crc.ts';
import { FirmwareError } from '../errors.ts';

export const OTADATA_SIZE = 0x2000;
export const OTADATA_SECTOR = 0x1000;
export const OTA_SELECT_ENTRY_LENGTH = 32;

export const OTA_STATES = {
  NEW: 0,
  PENDING_VERIFY: 1,
  VALID: 2,
  INVALID: 3,
  ABORTED: 4,
  UNDEFINED: 0xffffffff,
} as const;
export type OtaStateName = keyof typeof OTA_STATES;

export interface OtaSelectEntry {
  /** Which copy (0 at offset 0, 1 at offset 0x1000). */
  copy: 0 | 1;
  seq: number;
  state: number;
  stateName: OtaStateName | null;
  crc: number;
  crcOk: boolean;
  /** Erased (seq 0xFFFFFFFF) copies are invalid, as are INVALID/ABORTED ones and CRC mismatches. */
  valid: boolean;
  /** Why the copy is invalid, null when valid. */
  problem: 'erased' | 'bad_crc' | 'invalid_state' | null;
}

export type BootChoice =
  | { kind: 'ota'; index: number; seq: number; copy: 0 | 1 }
  | { kind: 'factory' }
  /** Both copies invalid and no factory app: IDF's bootloader "tries OTA 0". */
  | { kind: 'ota-fallback'; index: 0 };

export interface Otadata {
  copies: [OtaSelectEntry, OtaSelectEntry];
  /** The copy the bootloader follows: the valid one with the larger seq (copy 0 on a tie), or null. */
  active: OtaSelectEntry | null;
  /** Slot the bootloader boots, given how many OTA app partitions the table has. */
  bootSlot(otaAppCount: number, hasFactory?: boolean): BootChoice;
}

/**
 * CRC of an entry: `esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4)`, which equals zlib
 * `crc32(seq_le, 0xFFFFFFFF)` — the seed is a prior CRC, not the init register.
 */
export function otadataCrc(seq: number): number {
  const b = new Uint8Array(4);
  view(b).setUint32(0, seq >>> 0, true);
  return crc32(b, 0xffffffff);
}

function decodeCopy(bytes: Uint8Array, copy: 0 | 1): OtaSelectEntry {
  const v = view(bytes);
  const at = copy * OTADATA_SECTOR;
  const seq = v.getUint32(at, true);
  const state = v.getUint32(at + 24, true);
  const crc = v.getUint32(at + 28, true);
  const crcOk = crc === otadataCrc(seq);
  const stateName = (Object.entries(OTA_STATES).find(([, s]) => s === state)?.[0] ?? null) as OtaStateName | null;
  const problem =
    seq === 0xffffffff ? 'erased' : !crcOk ? 'bad_crc' : state === OTA_STATES.INVALID || state === OTA_STATES.ABORTED ? 'invalid_state' : null;
  return { copy, seq, state, stateName, crc, crcOk, valid: problem === null, problem };
}

export function parseOtadata(bytes: Uint8Array): Otadata {
  // Only the first 32 bytes of each sector matter, but a shorter input is not an otadata partition.
  if (bytes.length !== OTADATA_SIZE) {
    throw new FirmwareError('firmware.otadata.bad_size', `otadata is ${bytes.length} bytes (${hex32(bytes.length)}), expected exactly 0x2000`, {
      hint: 'read the whole otadata partition: two 4 KiB sectors',
    });
  }
  const copies: [OtaSelectEntry, OtaSelectEntry] = [decodeCopy(bytes, 0), decodeCopy(bytes, 1)];
  const [c0, c1] = copies;
  const active = c0.valid && c1.valid ? (c1.seq > c0.seq ? c1 : c0) : c0.valid ? c0 : c1.valid ? c1 : null;
  return {
    copies,
    active,
    bootSlot(otaAppCount: number, hasFactory = false): BootChoice {
      if (!Number.isInteger(otaAppCount) || otaAppCount < 0 || otaAppCount > 16) {
        throw new FirmwareError('firmware.otadata.bad_slot_count', `otaAppCount is ${otaAppCount}, expected 0…16`);
      }
      // Mirrors bootloader_utility_get_selected_boot_partition: no OTA apps → factory;
      // no valid copy → factory if present, else OTA 0.
      if (otaAppCount === 0) return { kind: 'factory' };
      if (!active) return hasFactory ? { kind: 'factory' } : { kind: 'ota-fallback', index: 0 };
      return { kind: 'ota', index: (active.seq - 1) % otaAppCount, seq: active.seq, copy: active.copy };
    },
  };
}

export interface BuildOtadataOptions {
  seq: number;
  /** ota_state; default UNDEFINED (0xFFFFFFFF), what writers leave when rollback is off. */
  state?: OtaStateName | number;
  /**
   * What the other copy holds: 'erased' (default) or 'previous' — seq−1 with its CRC,
   * as a device that has taken seq−1 updates one at a time would show.
   */
  otherCopy?: 'erased' | 'previous';
}

/**
 * Builds a 0x2000-byte otadata image. Where seq goes follows IDF's esp_ota_set_boot_partition:
 * from a blank otadata the first write goes to copy 0, and each later write goes to the copy
 * that is not active, so seq n (counting up one at a time) lives in copy (n − 1) mod 2.
 * seq 1 therefore gives copy 0 = seq 1 and copy 1 erased, as `mos` ships it.
 */
export function buildOtadata(opts: BuildOtadataOptions): Uint8Array {
  const { seq } = opts;
  if (!Number.isInteger(seq) || seq < 1 || seq >= 0xffffffff) {
    throw new FirmwareError('firmware.otadata.bad_seq', `otadata seq ${seq} is out of range 1…0xFFFFFFFE`, {
      hint: 'seq 1 boots ota_0, seq 2 boots ota_1 (with two OTA slots)',
    });
  }
  const state = typeof opts.state === 'string' ? OTA_STATES[opts.state] : opts.state ?? OTA_STATES.UNDEFINED;
  if (state === undefined || !Number.isInteger(state) || state < 0 || state > 0xffffffff) {
    throw new FirmwareError('firmware.otadata.bad_state', `unknown ota_state ${String(opts.state)}`, { hint: `one of ${Object.keys(OTA_STATES).join(', ')}` });
  }
  const out = new Uint8Array(OTADATA_SIZE).fill(0xff);
  const copy = (seq - 1) % 2;
  writeEntry(out, copy * OTADATA_SECTOR, seq, state);
  if (opts.otherCopy === 'previous' && seq > 1) writeEntry(out, (1 - copy) * OTADATA_SECTOR, seq - 1, OTA_STATES.UNDEFINED);
  return out;
}

function writeEntry(out: Uint8Array, at: number, seq: number, state: number): void {
  const v = view(out);
  v.setUint32(at, seq, true);
  // seq_label[20] stays 0xFF: writers erase the sector and never fill it.
  v.setUint32(at + 24, state >>> 0, true);
  v.setUint32(at + 28, otadataCrc(seq), true);
}
