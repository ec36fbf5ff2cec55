// What a backup holds (the manifest inside the encrypted payload) and the payload's shape:
// one JSON document with the manifest and each file's bytes (base64). Names are relative,
// '/'-separated and checked before anything is written (no '..', no absolute paths).
import { createHash } from 'node:crypto';
import { BackupError } from './errors.ts';

export const FILE_ROLES = [
  'station-config', 'ca', 'keystore', 'keystore-mirror', 'keystore-exports', 'registry', 'audit-log', 'audit-head', 'firmware-bundle', 'signing-key',
] as const;
export type FileRole = (typeof FILE_ROLES)[number];

export interface ArchivedFile {
  /** Where the file goes under the restored station's directory. */
  name: string;
  role: FileRole;
  /** Unix permission bits (0o600 for the keystore and CA keys). */
  mode: number;
  size: number;
  sha256: string;
}

export interface StationFile extends ArchivedFile {
  data: Uint8Array;
}

export interface BackupCounts {
  devices: number;
  auditEntries: number;
  certificates: number;
  keystoreRecords: number;
}

export interface Manifest {
  format: 'espfleet-backup-manifest';
  version: 1;
  /** Random id, also in the `backup.create` audit entry. */
  id: string;
  createdAt: string;
  createdBy: string;
  station: { id: string; operator: string; config: string };
  /** station.toml key → archive name where its file (or, for ca.dir, directory) is kept. */
  locations: Record<string, string | string[]>;
  /** Keys whose file did not exist when the backup was taken (e.g. no registry before the first run). */
  absent: string[];
  /** Keys naming passphrase or key files: never in a backup; the new machine needs its own. */
  secretsNotIncluded: Record<string, string>;
  counts: BackupCounts;
  files: ArchivedFile[];
  /**
   * Set when the station's registry was a PostgreSQL database: its URL with the password
   * redacted. The archive still holds a SQLite registry and audit log, exported from it at
   * one moment, so it restores and verifies without the database.
   */
  registryFrom?: { backend: 'postgres'; url: string };
}

export interface Payload {
  manifest: Manifest;
  /** name → base64 bytes. */
  data: Record<string, string>;
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export function fileEntry(name: string, role: FileRole, mode: number, data: Uint8Array): StationFile {
  return { name, role, mode, size: data.length, sha256: sha256Hex(data), data };
}

export function encodePayload(manifest: Manifest, files: readonly StationFile[]): Uint8Array {
  const data: Record<string, string> = {};
  for (const f of files) data[f.name] = Buffer.from(f.data).toString('base64');
  return new Uint8Array(Buffer.from(JSON.stringify({ manifest, data } satisfies Payload)));
}

/** A safe relative name: no empty, '.', '..' segments, no absolute path, no backslash. */
export function safeName(name: unknown): name is string {
  if (typeof name !== 'string' || name === '' || name.startsWith('/') || name.includes('\\') || name.includes('\0')) return false;
  return name.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

const REQUIRED: readonly FileRole[] = ['station-config', 'ca', 'keystore'];

/** Parses and checks a decrypted payload: every file listed, present, with its size and hash, and the required roles there. */
export function decodePayload(bytes: Uint8Array, file: string): { manifest: Manifest; files: StationFile[] } {
  const bad = (why: string) =>
    new BackupError('backup.incomplete', `the backup ${file} is incomplete or malformed: ${why}`, { hint: 'nothing was restored; use another copy of the backup' });
  let payload: Payload;
  try {
    payload = JSON.parse(Buffer.from(bytes).toString('utf8')) as Payload;
  } catch {
    throw bad('the contents are not JSON');
  }
  const m = payload?.manifest;
  if (!m || m.format !== 'espfleet-backup-manifest' || m.version !== 1 || !Array.isArray(m.files) || typeof payload.data !== 'object' || payload.data === null) {
    throw bad('no espfleet-backup-manifest version 1');
  }
  const files: StationFile[] = [];
  const seen = new Set<string>();
  for (const f of m.files) {
    if (!safeName(f?.name)) throw bad(`unsafe file name ${JSON.stringify(f?.name)}`);
    if (seen.has(f.name)) throw bad(`${f.name} is listed twice`);
    seen.add(f.name);
    if (!FILE_ROLES.includes(f.role)) throw bad(`${f.name} has an unknown role ${JSON.stringify(f.role)}`);
    const b64 = payload.data[f.name];
    if (typeof b64 !== 'string') throw bad(`${f.name} (${f.role}) is listed but missing`);
    const data = new Uint8Array(Buffer.from(b64, 'base64'));
    if (data.length !== f.size || sha256Hex(data) !== f.sha256) throw bad(`${f.name} does not match its size and sha256 in the manifest`);
    files.push({ ...f, mode: f.mode & 0o777, data });
  }
  const extra = Object.keys(payload.data).find((n) => !seen.has(n));
  if (extra !== undefined) throw bad(`${extra} is not in the manifest`);
  for (const role of REQUIRED) if (!files.some((f) => f.role === role)) throw bad(`it holds no ${role} file`);
  return { manifest: m, files };
}
