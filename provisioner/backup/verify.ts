// `backup verify`: decrypts and authenticates the archive, checks every file against the
// manifest and the audit chain against the registry in it, and says what it holds; writes
// nothing but a private temporary directory for the registry check.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openArchive } from './archive-format.ts';
import { checkStationFiles, type StationCheck } from './contents.ts';
import { BackupError } from './errors.ts';
import { decodePayload, type Manifest, type StationFile } from './manifest.ts';

export interface OpenedBackup {
  file: string;
  manifest: Manifest;
  files: StationFile[];
  check: StationCheck;
}

export interface BackupReport {
  file: string;
  ok: boolean;
  id: string;
  createdAt: string;
  createdBy: string;
  station: Manifest['station'];
  counts: Manifest['counts'];
  audit: StationCheck['audit'];
  files: Array<{ name: string; role: string; size: number }>;
  absent: string[];
  secretsNotIncluded: Record<string, string>;
  registryFrom?: Manifest['registryFrom'];
}

export function readBackupFile(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new BackupError('backup.unreadable', `cannot read the backup ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** Everything in the backup, checked; throws a BackupError on anything but a sound, complete archive. */
export async function openBackup(path: string, passphrase: string): Promise<OpenedBackup> {
  const file = resolve(path);
  const { manifest, files } = decodePayload(await openArchive(readBackupFile(file), passphrase, file), file);
  const check = await checkStationFiles(files, `the backup ${file}`);
  if (!check.audit.ok) {
    const p = check.audit.problem!;
    throw new BackupError('backup.audit_broken', `the audit log in the backup ${file} fails verification at line ${p.line}: ${p.reason}`, { hint: 'nothing was restored; use another copy of the backup' });
  }
  const c = manifest.counts;
  if (c.devices !== check.counts.devices || c.auditEntries !== check.counts.auditEntries || c.keystoreRecords !== check.counts.keystoreRecords) {
    throw new BackupError('backup.incomplete', `the backup ${file} does not hold what its manifest says (manifest ${JSON.stringify(c)}, found ${JSON.stringify(check.counts)})`, { hint: 'nothing was restored; use another copy of the backup' });
  }
  return { file, manifest, files, check };
}

export async function verifyBackup(path: string, passphrase: string): Promise<BackupReport> {
  const b = await openBackup(path, passphrase);
  const m = b.manifest;
  return {
    file: b.file,
    ok: true,
    id: m.id,
    createdAt: m.createdAt,
    createdBy: m.createdBy,
    station: m.station,
    counts: b.check.counts,
    audit: b.check.audit,
    files: b.files.map((f) => ({ name: f.name, role: f.role, size: f.size })),
    absent: m.absent,
    secretsNotIncluded: m.secretsNotIncluded,
    ...(m.registryFrom ? { registryFrom: m.registryFrom } : {}),
  };
}
