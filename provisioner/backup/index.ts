// Station backups (issue 21): one encrypted archive of the CA, the keystore, the registry,
// the audit log and its head, station.toml and the firmware it names; verify and restore.
export { BackupError } from './errors.ts';
export { createBackup, type BackupSummary, type CreateBackupOptions } from './create.ts';
export { verifyBackup, openBackup, type BackupReport } from './verify.ts';
export { restoreBackup, type RestoreSummary, type RestoreOptions } from './restore.ts';
export type { Manifest, BackupCounts, FileRole } from './manifest.ts';
