// `backup create`: a `backup.create` audit entry, then one consistent snapshot of the
// station (which therefore holds that entry), checked as `backup verify` would check it,
// encrypted and written durably without replacing any file (mode 0600). A registry on
// PostgreSQL is archived as a SQLite export of it (snapshot.ts), its URL in the manifest.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DEFAULT_SCRYPT } from '../../certs/keystore-crypto.ts';
import { writeFileDurable } from '../io/files.ts';
import { openAuditLog } from '../station/audit-log.ts';
import type { StationConfig } from '../station/config.ts';
import { openStationAudit } from '../station/audit-sql.ts';
import { isPostgresUrl, openRegistryAt } from '../station/open-registry.ts';
import { sealArchive } from './archive-format.ts';
import { checkStationFiles } from './contents.ts';
import { BackupError } from './errors.ts';
import { encodePayload, type BackupCounts, type Manifest } from './manifest.ts';
import { snapshotStation } from './snapshot.ts';
import { whoAmI } from './who.ts';

export interface CreateBackupOptions {
  out: string;
  passphrase: string;
  actor?: string;
  clock?: () => Date;
  /** scrypt cost of the archive key (tests lower it). */
  scrypt?: { N: number; r: number; p: number } | typeof DEFAULT_SCRYPT;
  lockTimeoutMs?: number;
}

export interface BackupSummary {
  id: string;
  out: string;
  bytes: number;
  createdAt: string;
  station: string;
  counts: BackupCounts;
  files: number;
  absent: string[];
  secretsNotIncluded: Record<string, string>;
  /** The audit entry recording this backup. */
  auditSeq: number;
  /** The registry was exported from this PostgreSQL database (URL redacted). */
  registryFrom?: Manifest['registryFrom'];
}

export async function createBackup(cfg: StationConfig, opts: CreateBackupOptions): Promise<BackupSummary> {
  const out = resolve(opts.out);
  if (existsSync(out)) throw new BackupError('backup.exists', `${out} already exists; a backup never replaces a file`, { hint: 'choose a new file name' });
  const clock = opts.clock ?? (() => new Date());
  const actor = opts.actor ?? whoAmI();
  const id = randomBytes(8).toString('hex');
  const createdAt = clock().toISOString();

  // Recorded first, so the backup holds the entry that says it was made.
  // On PostgreSQL the entry goes into the database's chain, which the snapshot then exports.
  const onPostgres = isPostgresUrl(cfg.paths.registry);
  const registry = onPostgres || existsSync(cfg.paths.registry) ? await openRegistryAt(cfg.paths.registry) : undefined;
  let auditSeq: number;
  try {
    const audit = registry ? await openStationAudit(registry, cfg.paths.audit, { clock }) : await openAuditLog(cfg.paths.audit, { clock });
    const entry = await audit.append({ action: 'backup.create', actor, subject: { backup: id, station: cfg.station.id }, details: { out, by: 'espfleet backup create' } });
    auditSeq = entry.seq;
  } finally {
    await registry?.close();
  }

  const snap = await snapshotStation(cfg, opts.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: opts.lockTimeoutMs });
  const check = await checkStationFiles(snap.files, `the station ${cfg.source}`);
  if (!check.audit.ok) {
    const p = check.audit.problem!;
    throw new BackupError('backup.audit_broken', `the audit log ${snap.registryFrom ? `in the registry ${snap.registryFrom.url}` : cfg.paths.audit} fails verification at line ${p.line}: ${p.reason}; no backup was written`, {
      hint: `inspect it with \`espfleet audit verify --station ${cfg.source}\``,
    });
  }
  const manifest: Manifest = {
    format: 'espfleet-backup-manifest',
    version: 1,
    id,
    createdAt,
    createdBy: actor,
    station: { id: cfg.station.id, operator: cfg.station.operator, config: cfg.source },
    locations: snap.locations,
    absent: snap.absent,
    secretsNotIncluded: snap.secretsNotIncluded,
    counts: check.counts,
    files: snap.files.map(({ data: _d, ...f }) => f),
    ...(snap.registryFrom ? { registryFrom: snap.registryFrom } : {}),
  };
  const bytes = await sealArchive(encodePayload(manifest, snap.files), opts.passphrase, opts.scrypt);
  try {
    writeFileDurable(out, bytes, { mode: 0o600, noClobber: true });
  } catch (e) {
    throw new BackupError('backup.write_failed', `cannot write the backup ${out}: ${(e as Error).message} (the audit log records backup ${id} at entry ${auditSeq}, but no file was written)`, {
      hint: 'check the directory and free space, then run again',
      cause: e,
    });
  }
  return {
    id,
    out,
    bytes: bytes.length,
    createdAt,
    station: cfg.station.id,
    counts: check.counts,
    files: snap.files.length,
    absent: snap.absent,
    secretsNotIncluded: snap.secretsNotIncluded,
    auditSeq,
    ...(snap.registryFrom ? { registryFrom: snap.registryFrom } : {}),
  };
}
