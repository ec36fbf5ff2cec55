// Exporting one escrowed flash-encryption key as an espsecure/espefuse key file (32 raw
// bytes, key-file byte order, spec esp32-rom-efuse-crypto.md §3.6) for a technician using
// Espressif's tools. Every export is logged first: one JSON line appended (and fsynced)
// to `<keystore>.exports.jsonl`, so no key leaves the keystore unrecorded. The key file
// is created with mode 0600 and never overwrites an existing file.
import { closeSync, existsSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { KeyEscrow } from '../../certs/index.ts';
import { FileError, writeSecretFile } from '../io/files.ts';
import { FLASH_KEY_KIND } from './enable.ts';

export interface ExportRecord {
  at: string;
  event: 'keystore.export';
  keystore: string;
  mac: string;
  deviceId: string;
  kind: typeof FLASH_KEY_KIND;
  out: string;
  user: string;
  host: string;
}

export function exportLogPath(keystorePath: string): string {
  return `${keystorePath}.exports.jsonl`;
}

export function exportFlashKey(keystore: KeyEscrow, mac: string, outPath: string, opts: { clock?: () => Date; reason?: string } = {}): ExportRecord {
  const entry = keystore.get({ mac }, FLASH_KEY_KIND);
  // Refused before logging: a log line means a key file was (about to be) written.
  if (existsSync(outPath)) {
    throw new FileError('io.exists', `cannot write the key file ${outPath}: it already exists`, { hint: 'choose a new --out path (key files are never overwritten)' });
  }
  const record: ExportRecord = {
    at: (opts.clock?.() ?? new Date()).toISOString(),
    event: 'keystore.export',
    keystore: resolve(keystore.path),
    mac: entry.mac,
    deviceId: entry.deviceId,
    kind: FLASH_KEY_KIND,
    out: resolve(outPath),
    user: safeUser(),
    host: hostname(),
  };
  appendDurable(exportLogPath(keystore.path), `${JSON.stringify(record)}\n`);
  writeNew(outPath, entry.secret);
  return record;
}

function appendDurable(path: string, line: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'a', 0o600);
    writeSync(fd, line);
    fsyncSync(fd);
  } catch (e) {
    throw new FileError('io.write_failed', `cannot append to the export log ${path}: ${(e as Error).message}; the key was not exported`, { cause: e });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeNew(path: string, bytes: Uint8Array): void {
  // Never over another file (no --force here: an export is always a new file), mode 0600.
  writeSecretFile(path, bytes);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
