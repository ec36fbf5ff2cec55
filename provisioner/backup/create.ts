// `backup create`: a `backup.create` audit entry, then one consistent snapshot of the
// station (which therefore holds that entry), checked as `backup verify` would check it,
// encrypted and written durably without replacing any file (mode 0600).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DEFAULT_SCRYPT } from '../../certs/keystore-crypto.ts';
import { writeFileDurable } from '../io/files.ts';
import { openAuditLog } from '../station/audit-log.ts';
import type { StationConfig } from '../station/config.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { isPostgresUrl, redactUrl } from '../station/registry-postgres.ts';
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
}

export async function createBackup(cfg: StationConfig, opts: CreateBackupOptions): Promise<BackupSummary> {
  const out = resolve(opts.out);
  if (existsSync(out)) throw new BackupError('backup.exists', `${out} already exists; a backup never replaces a file`, { hint: 'choose a new file name' });
  if (isPostgresUrl(cfg.paths.registry)) {
    throw new BackupError('backup.registry_on_postgres', `${cfg.source}: the registry is a PostgreSQL database (${redactUrl(cfg.paths.registry)}); a station backup holds only a registry file`, {
      hint: 'back the database up with pg_dump (docs/registry.md); nothing was written',
    });
  }
  const clock = opts.clock ?? (() => new Date());
  const actor = opts.actor ?? whoAmI();
  const id = randomBytes(8).toString('hex');
  const createdAt = clock().toISOString();

  // Recorded first, so the backup holds the entry that says it was made.
  const registry = existsSync(cfg.paths.registry) ? await openRegistry(cfg.paths.registry) : undefined;
  let auditSeq: number;
  try {
    const audit = await openAuditLog(cfg.paths.audit, { clock, ...(registry ? { anchor: registry } : {}) });
    const entry = await audit.append({ action: 'backup.create', actor, subject: { backup: id, station: cfg.station.id }, details: { out, by: 'espfleet backup create' } });
    auditSeq = entry.seq;
  } finally {
    await registry?.close();
  }

  const snap = await snapshotStation(cfg, opts.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: opts.lockTimeoutMs });
  const check = await checkStationFiles(snap.files, `the station ${cfg.source}`);
  if (!check.audit.ok) {
    const p = check.audit.problem!;
    throw new BackupError('backup.audit_broken', `the audit log ${cfg.paths.audit} fails verification at line ${p.line}: ${p.reason}; no backup was written`, {
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
  };
}
