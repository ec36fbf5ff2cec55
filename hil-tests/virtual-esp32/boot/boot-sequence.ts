// What the ROM and the 2nd-stage bootloader decide at a flash boot (spec esp32-rom-efuse-crypto.md
// §5–§6): read flash through the decryption engine when encryption is on, verify the bootloader,
// the partition table and otadata, pick an app and verify it. The double cannot execute Xtensa
// code, so it reports (as boot-log lines) which app it would run, or exactly why it cannot boot.
import type { EfuseController } from '../efuse-controller.ts';
import { flashEncryptionEnabled, popcount, type FlashView } from './flash-view.ts';
import { checkImage, type AppDescription } from './image-check.ts';
import { checkPartitionTable, selectBootPartition, type PartitionEntry } from './partition-check.ts';

export const BOOTLOADER_OFFSET = 0x1000;

export interface BootSlot {
  partition: PartitionEntry;
  /** ota_N index, or undefined for factory/test apps. */
  otaIndex: number | undefined;
  imageLength: number;
  app: AppDescription | undefined;
}

export interface BootReport {
  ok: boolean;
  encrypted: boolean;
  lines: string[];
  slot?: BootSlot;
  failure?: { stage: 'bootloader' | 'partition_table' | 'app'; code: string; message: string };
}

export function runBootSequence(view: FlashView, efuse: EfuseController): BootReport {
  let ms = 27;
  const lines: string[] = [];
  const log = (level: 'I' | 'W' | 'E', tag: string, text: string) => {
    lines.push(`${level} (${ms}) ${tag}: ${text}`);
    ms += 7;
  };
  const encrypted = flashEncryptionEnabled(efuse);
  const fail = (stage: NonNullable<BootReport['failure']>['stage'], code: string, message: string): BootReport => ({
    ok: false,
    encrypted,
    lines,
    failure: { stage, code, message },
  });

  const boot = checkImage(view, BOOTLOADER_OFFSET, 0x8000 - BOOTLOADER_OFFSET);
  if (!boot.ok) {
    // The ROM itself rejects it and never reaches a 2nd stage.
    lines.push(`invalid header: bootloader at 0x1000: ${boot.message}`);
    return fail('bootloader', boot.code, boot.message);
  }
  log('I', 'boot', `2nd stage bootloader at 0x1000 verified (${boot.segments} segments, ${boot.length} bytes${boot.hashAppended ? ', SHA-256 ok' : ''})`);
  if (encrypted) {
    const cnt = efuse.hardwareField('FLASH_CRYPT_CNT');
    log('I', 'flash_encrypt', `flash encryption is enabled (FLASH_CRYPT_CNT 0x${cnt.toString(16)}, ${Math.floor((7 - popcount(cnt)) / 2)} plaintext flashes left)`);
  }

  const table = checkPartitionTable(view, view.size);
  if (!table.ok) {
    log('E', 'flash_parts', table.message);
    log('E', 'boot', 'Failed to verify partition table');
    return fail('partition_table', table.code, table.message);
  }
  log('I', 'boot', 'Partition Table:');
  log('I', 'boot', '## Label            Usage          Type ST Offset   Length');
  table.entries.forEach((e, i) => {
    const usage = e.type === 0 ? (e.subtype === 0 ? 'factory app' : e.subtype === 0x20 ? 'test app' : `OTA app`) : e.subtype === 0 ? 'OTA data' : 'data';
    log('I', 'boot', ` ${i} ${e.label.padEnd(16)} ${usage.padEnd(14)} ${hex2(e.type)} ${hex2(e.subtype)} ${hex8(e.offset)} ${hex8(e.size)}`);
  });

  const choice = selectBootPartition(view, table.entries);
  if ('error' in choice) {
    log('E', 'boot', choice.error);
    return fail('app', 'no_app_partition', choice.error);
  }
  log('I', 'boot', choice.reason);

  // Try the chosen slot first, then the others, as the bootloader falls back when one is invalid.
  const candidates = [choice.app, ...table.entries.filter((e) => e.type === 0 && e !== choice.app)];
  let firstFailure: { code: string; message: string } | undefined;
  for (const part of candidates) {
    const img = checkImage(view, part.offset, part.size);
    if (!img.ok) {
      log('E', 'esp_image', img.message);
      log('E', 'boot', `partition ${part.label} at 0x${part.offset.toString(16)} is not bootable`);
      firstFailure ??= { code: img.code, message: `${part.label}: ${img.message}` };
      continue;
    }
    log('I', 'boot', `Loaded app from partition at offset 0x${part.offset.toString(16)}`);
    if (img.app) {
      log('I', 'app_init', `Project name:     ${img.app.projectName}`);
      log('I', 'app_init', `App version:      ${img.app.version}`);
      log('I', 'app_init', `ESP-IDF:          ${img.app.idfVersion}`);
    }
    const version = img.app?.version ?? 'unknown (no esp_app_desc_t)';
    log('I', 'espfleet-sim', `would run app '${part.label}' at 0x${part.offset.toString(16)}, version ${version}`);
    const otaIndex = part.subtype >= 0x10 && part.subtype < 0x20 ? part.subtype - 0x10 : undefined;
    return { ok: true, encrypted, lines, slot: { partition: part, otaIndex, imageLength: img.length, app: img.app } };
  }
  log('E', 'boot', 'No bootable app partitions in the partition table');
  const f = firstFailure ?? { code: 'no_app', message: 'no bootable app' };
  return fail('app', f.code, f.message);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
