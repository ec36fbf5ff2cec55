// `backup restore FILE --to DIR`: the whole archive is checked first (as `backup verify`),
// then written into a fresh staging directory beside DIR, the station.toml paths fixed up,
// the restored station opened and a `backup.restore` entry appended to its audit log; only
// then is the staging directory renamed to DIR. A failure at any point leaves nothing.
// With `--registry postgres://…` the restored registry and chain (backup.restore entry
// included) are then moved into that empty database in one transaction (registry-move.ts)
// and station.toml points at it; the move is the last step that can fail before the
// rename, and a refused or failed move leaves the database as it was.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { syncDirectory } from '../../certs/durable-file.ts';
import { headPath, openAuditLog } from '../station/audit-log.ts';
import { loadStationConfig } from '../station/config.ts';
import { isPostgresUrl, redactUrl } from '../station/registry-postgres.ts';
import { moveRegistry } from '../station/registry-move.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { BackupError } from './errors.ts';
import type { BackupCounts } from './manifest.ts';
import { pointRegistryAt, rewriteStationConfig } from './rewrite-config.ts';
import { openBackup } from './verify.ts';
import { whoAmI } from './who.ts';

export interface RestoreOptions {
  actor?: string;
  clock?: () => Date;
  /** A postgres:// URL of an empty database: the registry and chain go there instead of a file. */
  registry?: string;
}

export interface RestoreSummary {
  id: string;
  from: string;
  to: string;
  station: string;
  stationConfig: string;
  counts: BackupCounts;
  files: number;
  /** station.toml keys pointed at the restored files. */
  rewritten: Record<string, string>;
  /** Passphrase and key files the restored station.toml names: never in a backup. */
  provide: Array<{ key: string; path: string; present: boolean }>;
  /** Keystore copies restored onto this one disk: move each to its own. */
  mirrors: string[];
  auditSeq: number;
  /** Where the registry went: the restored file, or the database (URL redacted). */
  registry: string;
}

function checkTarget(to: string): void {
  if (!existsSync(to)) return;
  if (!statSync(to).isDirectory()) throw new BackupError('backup.target_not_empty', `${to} exists and is not a directory`, { hint: 'restore into a new or empty directory' });
  if (readdirSync(to).length > 0) {
    throw new BackupError('backup.target_not_empty', `${to} is not empty; a restore never writes over a station`, { hint: 'restore into a new or empty directory' });
  }
}

export async function restoreBackup(path: string, toDir: string, passphrase: string, opts: RestoreOptions = {}): Promise<RestoreSummary> {
  const to = resolve(toDir);
  checkTarget(to);
  if (opts.registry !== undefined && !isPostgresUrl(opts.registry)) {
    throw new BackupError('backup.bad_registry', `--registry ${opts.registry} is not a postgres:// URL; without it the registry is restored as a file`, { hint: 'give the URL of an empty PostgreSQL database' });
  }
  const backup = await openBackup(path, passphrase);
  const { manifest, files } = backup;
  mkdirSync(dirname(to), { recursive: true });
  const staging = join(dirname(to), `.${basename(to)}.restore-${randomBytes(6).toString('hex')}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    for (const f of files) {
      const p = join(staging, f.name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, f.data, { mode: f.mode, flag: 'wx' });
      chmodSync(p, f.mode);
    }
    const configFile = files.find((f) => f.role === 'station-config')!;
    const stationPath = join(staging, configFile.name);
    const fixed = rewriteStationConfig(Buffer.from(configFile.data).toString('utf8'), manifest, `Restored by espfleet backup restore from ${backup.file} (backup ${manifest.id} of ${manifest.createdAt}).`);
    if (Object.keys(fixed.rewritten).length > 0) {
      writeFileSync(`${stationPath}.before-restore`, configFile.data, { flag: 'wx' });
      writeFileSync(stationPath, fixed.text);
    }
    // The restored station must open as it will be used; the paths are relative, so staging works.
    const cfg = loadStationConfig(stationPath);
    const registry = existsSync(cfg.paths.registry) ? await openRegistry(cfg.paths.registry) : undefined;
    let auditSeq: number;
    try {
      const audit = await openAuditLog(cfg.paths.audit, { ...(opts.clock ? { clock: opts.clock } : {}), ...(registry ? { anchor: registry } : {}) });
      const entry = await audit.append({
        action: 'backup.restore',
        actor: opts.actor ?? whoAmI(),
        subject: { backup: manifest.id, station: manifest.station.id },
        details: { from: backup.file, to, backupCreatedAt: manifest.createdAt, originalConfig: manifest.station.config, by: 'espfleet backup restore' },
      });
      auditSeq = entry.seq;
    } finally {
      await registry?.close();
    }
    let registryAt = cfg.paths.registry;
    if (opts.registry !== undefined) {
      // The staged station, backup.restore included, into the database; then its files go.
      await moveRegistry({ from: cfg.paths.registry, auditLog: cfg.paths.audit, to: opts.registry, requireEmpty: true });
      for (const p of [cfg.paths.registry, cfg.paths.audit, headPath(cfg.paths.audit)]) rmSync(p, { force: true });
      const current = readFileSync(stationPath, 'utf8');
      writeFileSync(stationPath, pointRegistryAt(current, opts.registry, `Registry restored into ${redactUrl(opts.registry)} by espfleet backup restore (backup ${manifest.id}).`));
      if (!existsSync(`${stationPath}.before-restore`)) writeFileSync(`${stationPath}.before-restore`, configFile.data, { flag: 'wx' });
      fixed.rewritten['paths.registry'] = redactUrl(opts.registry);
      registryAt = redactUrl(opts.registry);
    }
    const rel = (p: string) => (p.startsWith(staging) ? join(to, p.slice(staging.length)) : p);
    const secretAt = (key: string) => (key === 'ca.passphrase_file' ? cfg.ca.passphraseFile : key === 'keystore.passphrase_file' ? cfg.keystore.passphraseFile : cfg.keystore.keyFile);
    const secrets = Object.keys(manifest.secretsNotIncluded).map((key) => ({ key, path: rel(secretAt(key) ?? '') }));
    if (existsSync(to)) rmdirSync(to);
    renameSync(staging, to);
    syncDirectory(dirname(to));
    const provide = secrets.map((s) => ({ ...s, present: existsSync(s.path) }));
    return {
      id: manifest.id,
      from: backup.file,
      to,
      station: manifest.station.id,
      stationConfig: join(to, configFile.name),
      counts: { ...backup.check.counts, auditEntries: auditSeq + 1 },
      files: files.length,
      rewritten: fixed.rewritten,
      provide,
      mirrors: cfg.keystore.mirrors.map(rel),
      auditSeq,
      registry: opts.registry === undefined ? rel(registryAt) : registryAt,
    };
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}
