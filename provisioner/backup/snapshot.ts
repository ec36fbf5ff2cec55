// Reads everything a station needs to be rebuilt, under the audit log's and the registry's
// locks (provisioner/station/file-lock.ts), so a station provisioning meanwhile cannot
// append between the log, its head and the registry's anchor. A registry on PostgreSQL is
// first exported at one moment into a SQLite file and its audit log (the move of
// registry-move.ts, into a private temporary directory), and those files enter the archive
// as the registry and the log: the archive needs no database to verify or restore. The keystore is read last:
// a key is escrowed before its board is recorded, so every board the snapshot's registry
// and log mention has its key in the snapshot.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative, sep } from 'node:path';
import { exportLogPath } from '../encryption/key-export.ts';
import { headPath } from '../station/audit-log.ts';
import type { StationConfig } from '../station/config.ts';
import { withFileLock } from '../station/file-lock.ts';
import { isPostgresUrl, redactUrl } from '../station/registry-postgres.ts';
import { auditLogBeside, moveRegistry } from '../station/registry-move.ts';
import { BackupError } from './errors.ts';
import { fileEntry, type FileRole, type StationFile } from './manifest.ts';

export interface Snapshot {
  files: StationFile[];
  locations: Record<string, string | string[]>;
  absent: string[];
  secretsNotIncluded: Record<string, string>;
  /** The registry was exported from this PostgreSQL database (URL redacted). */
  registryFrom?: { backend: 'postgres'; url: string };
}

/** Where a PostgreSQL station's exported registry is kept in the archive (and restored). */
export const EXPORTED_REGISTRY_NAME = 'registry.sqlite';

/** The registry and the audit log to archive: the station's own files, or an export of its database. */
interface ChainFiles {
  registry: string;
  audit: string;
  registryName: (cfg: StationConfig) => string;
}

/** Where `path` lives in the archive: its place under the station directory, else external/<slot>/<name>. */
export function archiveName(cfg: StationConfig, path: string, slot: string): string {
  const rel = relative(cfg.baseDir, path);
  if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  return `external/${slot}/${basename(path)}`;
}

const SKIP = /\.(lock|break|tmp)$/;
/** An unencrypted private key, which no station file should hold (the CA's keys are encrypted PEM). */
const CLEAR_KEY = /-----BEGIN (RSA |EC |)PRIVATE KEY-----/;

const mode = (path: string) => statSync(path).mode & 0o777;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (!SKIP.test(name)) out.push(p);
  }
  return out;
}

export async function snapshotStation(cfg: StationConfig, opts: { lockTimeoutMs?: number } = {}): Promise<Snapshot> {
  if (isPostgresUrl(cfg.paths.registry)) return snapshotPostgresStation(cfg);
  const t = opts.lockTimeoutMs === undefined ? {} : { timeoutMs: opts.lockTimeoutMs };
  const own: ChainFiles = { registry: cfg.paths.registry, audit: cfg.paths.audit, registryName: (c) => archiveName(c, c.paths.registry, 'registry') };
  return withFileLock(
    cfg.paths.audit,
    () => withFileLock(cfg.paths.registry, () => readStation(cfg, own), { what: 'registry', code: 'station.registry.locked', ...t }),
    { what: 'audit log', code: 'station.audit.locked', ...t },
  );
}

/** The database's registry and chain at one moment, as a SQLite file and its log; then the station's files. */
async function snapshotPostgresStation(cfg: StationConfig): Promise<Snapshot> {
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-backup-export-'));
  try {
    const registry = join(dir, EXPORTED_REGISTRY_NAME);
    await moveRegistry({ from: cfg.paths.registry, to: registry, requireEmpty: true });
    const snap = readStation(cfg, { registry, audit: auditLogBeside(registry), registryName: () => EXPORTED_REGISTRY_NAME });
    return { ...snap, registryFrom: { backend: 'postgres', url: redactUrl(cfg.paths.registry) } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readStation(cfg: StationConfig, chain: ChainFiles): Snapshot {
  const files: StationFile[] = [];
  const locations: Record<string, string | string[]> = {};
  const absent: string[] = [];
  const add = (path: string, name: string, role: FileRole) => {
    let data: Uint8Array;
    try {
      data = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new BackupError('backup.unreadable', `cannot read ${path} for the backup: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    if (CLEAR_KEY.test(Buffer.from(data).toString('latin1'))) {
      throw new BackupError('backup.clear_secret', `${path} holds an unencrypted private key; a backup never carries one`, {
        hint: 'remove the file from the station (device keys never belong on the host: DESIGN.md invariant 1), or encrypt it',
      });
    }
    files.push(fileEntry(name, role, mode(path), data));
  };
  /** One file named by a station.toml key; optional ones that do not exist are listed as absent. */
  const one = (key: string, path: string, slot: string, role: FileRole, required: boolean): string => {
    const name = archiveName(cfg, path, slot);
    locations[key] = name;
    if (existsSync(path)) add(path, name, role);
    else if (required) throw new BackupError('backup.incomplete_station', `${cfg.source}: ${key} names ${path}, which does not exist`, { hint: 'a backup needs the CA and the keystore' });
    else absent.push(key);
    return name;
  };

  add(cfg.source, basename(cfg.source), 'station-config');
  // The log, its head and the registry's anchor: one consistent state under both locks.
  const auditName = archiveName(cfg, cfg.paths.audit, 'audit');
  locations['paths.audit'] = auditName;
  if (existsSync(chain.audit)) add(chain.audit, auditName, 'audit-log');
  else absent.push('paths.audit');
  if (existsSync(headPath(chain.audit))) add(headPath(chain.audit), `${auditName}.head`, 'audit-head');
  const registryName = chain.registryName(cfg);
  locations['paths.registry'] = registryName;
  if (existsSync(chain.registry)) add(chain.registry, registryName, 'registry');
  else absent.push('paths.registry');

  if (cfg.ca.dir === null) throw new BackupError('backup.incomplete_station', `${cfg.source}: ca.dir is not set`, { hint: 'a backup needs the fleet CA' });
  const caDir = cfg.ca.dir;
  if (!existsSync(join(caDir, 'ca.json'))) throw new BackupError('backup.incomplete_station', `${cfg.source}: ca.dir ${caDir} holds no CA (no ca.json)`);
  const caName = archiveName(cfg, caDir, 'ca');
  locations['ca.dir'] = caName;
  // A passphrase or key file kept inside the CA directory still stays out of the backup.
  const secretPaths = new Set([cfg.ca.passphraseFile, cfg.keystore.passphraseFile, cfg.keystore.keyFile]);
  for (const p of walk(caDir).filter((f) => !secretPaths.has(f))) add(p, `${caName}/${relative(caDir, p).split(sep).join('/')}`, 'ca');

  if (cfg.firmware.bundle !== null) one('firmware.bundle', cfg.firmware.bundle, 'firmware', 'firmware-bundle', false);
  locations['firmware.signing_keys'] = cfg.firmware.signingKeys.map((p, i) => one(`firmware.signing_keys[${i}]`, p, `signing-key-${i}`, 'signing-key', false));
  for (const k of cfg.firmware.signingKeys.keys()) delete locations[`firmware.signing_keys[${k}]`];

  if (cfg.keystore.path === null) throw new BackupError('backup.incomplete_station', `${cfg.source}: keystore.path is not set`, { hint: 'a backup needs the keystore' });
  const ksName = one('keystore.path', cfg.keystore.path, 'keystore', 'keystore', true);
  if (existsSync(exportLogPath(cfg.keystore.path))) add(exportLogPath(cfg.keystore.path), `${ksName}.exports.jsonl`, 'keystore-exports');
  locations['keystore.mirrors'] = cfg.keystore.mirrors.map((p, i) => one(`keystore.mirrors[${i}]`, p, `keystore-mirror-${i + 1}`, 'keystore-mirror', false));
  for (const k of cfg.keystore.mirrors.keys()) delete locations[`keystore.mirrors[${k}]`];

  const secretsNotIncluded: Record<string, string> = {};
  if (cfg.ca.passphraseFile !== null) secretsNotIncluded['ca.passphrase_file'] = cfg.ca.passphraseFile;
  if (cfg.keystore.passphraseFile !== null) secretsNotIncluded['keystore.passphrase_file'] = cfg.keystore.passphraseFile;
  if (cfg.keystore.keyFile !== null) secretsNotIncluded['keystore.key_file'] = cfg.keystore.keyFile;
  const names = new Set<string>();
  for (const f of files) {
    if (names.has(f.name)) throw new BackupError('backup.name_clash', `two station files would both be kept as ${f.name} in the backup`, { hint: 'give them different file names in station.toml' });
    names.add(f.name);
  }
  return { files, locations, absent, secretsNotIncluded };
}
