// The embedded device registry: SQLite (sql.js, WebAssembly) held in memory and written
// back to its file after every write with a durable atomic replace, so a crash leaves
// either the old or the new registry, never half of one. Every write holds `<file>.lock`
// and re-reads the file first, so several espfleet processes on one station lose nothing. Implements DeviceRegistry
// (records.ts); schema changes go through registry-migrations.ts.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import initSqlJs, { type Database, type SqlJsStatic, type SqlValue } from 'sql.js';
import { normalizeMac } from '../../firmware-js/device-id.ts';
import { EspfleetError } from '../../firmware-js/errors.ts';
import { writeFileDurable } from '../io/files.ts';
import { withFileLock } from './file-lock.ts';
import { LATEST_SCHEMA_VERSION, migrations as knownMigrations, type Migration } from './registry-migrations.ts';
import type { AuditAnchor, AuditAnchorStore, DeviceRecord, DeviceRegistry, DeviceStatus, EncryptionModeRecord } from './records.ts';

export class RegistryError extends EspfleetError {}

export const DEVICE_STATUSES: readonly DeviceStatus[] = ['provisioning', 'provisioned', 'failed', 'revoked'];
const ENCRYPTION_MODES: readonly EncryptionModeRecord[] = ['off', 'development', 'release'];
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export interface OpenRegistryOptions {
  /** Open for reading only: never create the file, never write it (migrations run in memory). */
  readOnly?: boolean;
  /** The schema history to apply; tests pass a prefix to simulate an older espfleet. */
  migrations?: readonly Migration[];
  /** How long a write waits for another process holding `<file>.lock` (default 15 s). */
  lockTimeoutMs?: number;
}

let sqlJs: Promise<SqlJsStatic> | undefined;

function loadSqlJs(): Promise<SqlJsStatic> {
  if (!sqlJs) {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('sql.js/dist/sql-wasm.wasm');
    const wasmBinary = readFileSync(wasmPath);
    // The buffer is a Node Buffer view; hand sql.js an exact ArrayBuffer copy.
    const binary = wasmBinary.buffer.slice(wasmBinary.byteOffset, wasmBinary.byteOffset + wasmBinary.byteLength) as ArrayBuffer;
    sqlJs = initSqlJs({ wasmBinary: binary });
  }
  return sqlJs;
}

/** Lower-case colon-separated form of a MAC in any common notation, or undefined. */
export { normalizeMac };

export async function openRegistry(path: string, opts: OpenRegistryOptions = {}): Promise<SqliteRegistry> {
  const SQL = await loadSqlJs();
  const list = opts.migrations ?? knownMigrations;
  const readOnly = opts.readOnly ?? false;
  const open = (): SqliteRegistry => {
    const loaded = loadDatabase(SQL, path, readOnly);
    const registry = new SqliteRegistry(SQL, loaded.db, path, readOnly, list, loaded.stamp, opts.lockTimeoutMs);
    try {
      if (registry.migrate(list) && !readOnly) registry.persistNow();
    } catch (e) {
      loaded.db.close();
      throw e;
    }
    return registry;
  };
  // Creating or upgrading the file is a write: under the lock, like every other.
  return readOnly ? open() : withFileLock(path, open, { ...lockOptions, ...(opts.lockTimeoutMs === undefined ? {} : { timeoutMs: opts.lockTimeoutMs }) });
}

const lockOptions = { what: 'registry', code: 'station.registry.locked' } as const;

/** What identifies one version of the file on disk: a replace gives a new inode, a write a new size or time. */
function fileStamp(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return undefined;
  }
}

function loadDatabase(SQL: SqlJsStatic, path: string, readOnly: boolean): { db: Database; stamp: string | undefined } {
  const stamp = fileStamp(path);
  let bytes: Uint8Array | undefined;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new RegistryError('station.registry.unreadable', `cannot read registry ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (readOnly) {
      throw new RegistryError('station.registry.not_found', `no registry at ${path}`, {
        hint: 'the registry is created by the first provisioning run; check --registry or paths.registry in station.toml',
      });
    }
  }
  let db: Database;
  try {
    db = new SQL.Database(bytes);
    db.exec('PRAGMA schema_version'); // forces SQLite to read the header: a non-database fails here
  } catch (e) {
    throw new RegistryError('station.registry.corrupt', `${path} is not a SQLite registry: ${(e as Error).message}`, { cause: e });
  }
  return { db, stamp };
}

export class SqliteRegistry implements DeviceRegistry, AuditAnchorStore {
  private closed = false;
  /** Serialises this process's writes; the file lock serialises them with other processes. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly SQL: SqlJsStatic,
    private db: Database,
    readonly path: string,
    readonly readOnly: boolean,
    private readonly migrations: readonly Migration[],
    /** The file version `db` was read from or last written as. */
    private stamp: string | undefined,
    private readonly lockTimeoutMs?: number,
  ) {}

  /** The schema version of the open file (after migrations). */
  schemaVersion(): number {
    return currentVersion(this.db);
  }

  /** Applied migrations, oldest first: proves each ran once. */
  appliedMigrations(): Array<{ version: number; appliedAt: string }> {
    return rows(this.db, 'SELECT version, applied_at FROM schema_version ORDER BY version').map((r) => ({
      version: Number(r.version),
      appliedAt: String(r.applied_at),
    }));
  }

  /** @internal Applies pending migrations in order, each once, in memory; true when any ran. */
  migrate(list: readonly Migration[]): boolean {
    this.db.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const known = Math.max(0, ...list.map((m) => m.version));
    const have = currentVersion(this.db);
    if (have > known) {
      throw new RegistryError(
        'station.registry.newer_schema',
        `registry ${this.path} has schema version ${have}, but this espfleet knows only up to ${known}`,
        { hint: 'a newer espfleet wrote this file; upgrade espfleet to read it (it was not changed)' },
      );
    }
    const pending = [...list].sort((a, b) => a.version - b.version).filter((m) => m.version > have);
    if (pending.length === 0) return false;
    for (const m of pending) {
      this.db.run('BEGIN');
      try {
        m.up(this.db);
        this.db.run('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)', [m.version, new Date().toISOString()]);
        this.db.run('COMMIT');
      } catch (e) {
        this.db.run('ROLLBACK');
        throw new RegistryError('station.registry.migration_failed', `registry ${this.path}: migration ${m.version} (${m.description}) failed: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    return true;
  }

  async upsert(record: DeviceRecord): Promise<void> {
    this.usable();
    if (this.readOnly) throw new RegistryError('station.registry.read_only', `registry ${this.path} was opened read-only`);
    checkRecord(record);
    await this.update((db) => {
      const other = findByMacIn(db, record.mac);
      if (other && other.deviceId !== record.deviceId) {
        throw new RegistryError(
          'station.registry.conflict',
          `MAC ${record.mac} is already registered as ${other.deviceId}, cannot record it as ${record.deviceId}`,
          { hint: 'a device id is derived from the MAC; check device.id_template, or revoke the old record first' },
        );
      }
      writeRecord(db, record);
    });
  }

  /**
   * One write, merged with whatever other processes wrote: under the file lock, re-read
   * the file if it changed since we last saw it, apply `change`, write it back. On any
   * failure the file and memory are both as before.
   */
  protected update(change: (db: Database) => void): Promise<void> {
    const run = this.queue.then(() =>
      withFileLock(
        this.path,
        () => {
          this.usable();
          const fresh = fileStamp(this.path) === this.stamp ? undefined : this.reload().db;
          const db = fresh ?? this.db;
          // Work on a copy so a failed change or write leaves memory equal to the file.
          const work = new this.SQL.Database(db.export());
          try {
            change(work);
            const bytes = work.export();
            writeFileDurable(this.path, bytes);
          } catch (e) {
            work.close();
            if (fresh) this.adopt(fresh);
            throw e;
          }
          if (fresh) fresh.close();
          this.adopt(work);
        },
        { ...lockOptions, ...(this.lockTimeoutMs === undefined ? {} : { timeoutMs: this.lockTimeoutMs }) },
      ),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The file as it is now, migrated in memory (another espfleet may have written it). */
  private reload(): { db: Database; stamp: string | undefined } {
    const loaded = loadDatabase(this.SQL, this.path, this.readOnly);
    const registry = new SqliteRegistry(this.SQL, loaded.db, this.path, true, this.migrations, loaded.stamp);
    try {
      registry.migrate(this.migrations);
    } catch (e) {
      loaded.db.close();
      throw e;
    }
    return loaded;
  }

  private adopt(db: Database): void {
    if (db !== this.db) this.db.close();
    this.db = db;
    this.stamp = fileStamp(this.path);
  }

  /** Reads see other processes' writes: the file is re-read when it changed. */
  private current(): Database {
    this.usable();
    if (fileStamp(this.path) !== this.stamp && fileStamp(this.path) !== undefined) {
      const fresh = this.reload();
      this.db.close();
      this.db = fresh.db;
      this.stamp = fresh.stamp;
    }
    return this.db;
  }

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    return rows(this.current(), 'SELECT * FROM devices WHERE device_id = ?', [deviceId]).map(toRecord)[0];
  }

  async findByMac(mac: string): Promise<DeviceRecord | undefined> {
    return findByMacIn(this.current(), mac);
  }

  async list(filter: { status?: DeviceStatus; station?: string } = {}): Promise<DeviceRecord[]> {
    const db = this.current();
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.status !== undefined) (where.push('status = ?'), params.push(filter.status));
    if (filter.station !== undefined) (where.push('station = ?'), params.push(filter.station));
    const sql = `SELECT * FROM devices${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY device_id`;
    return rows(db, sql, params).map(toRecord);
  }

  async auditAnchor(): Promise<AuditAnchor | undefined> {
    return anchorIn(this.current());
  }

  async recordAuditAnchor(anchor: AuditAnchor): Promise<void> {
    this.usable();
    if (this.readOnly) throw new RegistryError('station.registry.read_only', `registry ${this.path} was opened read-only`);
    await this.update((db) => {
      const now = anchorIn(db);
      // Two processes anchoring one log may finish out of order: never move back.
      if (now && now.chain === anchor.chain && now.entries >= anchor.entries) return;
      db.run(
        `INSERT INTO audit_anchor (id, chain, entries, last, updated_at) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET chain = excluded.chain, entries = excluded.entries, last = excluded.last, updated_at = excluded.updated_at`,
        [anchor.chain, anchor.entries, anchor.last, new Date().toISOString()],
      );
    });
  }

  /**
   * For areas that keep their own tables in the registry file (fleet/rollout-store.ts):
   * reads see other processes' writes; a write is one atomic, locked update as upsert's.
   */
  read<T>(fn: (db: Database) => T): T {
    return fn(this.current());
  }

  async write(change: (db: Database) => void): Promise<void> {
    this.usable();
    if (this.readOnly) throw new RegistryError('station.registry.read_only', `registry ${this.path} was opened read-only`);
    await this.update(change);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  /** @internal Writes the open database to the file (the caller holds the lock). */
  persistNow(): void {
    writeFileDurable(this.path, this.db.export());
    this.stamp = fileStamp(this.path);
  }

  private usable(): void {
    if (this.closed) throw new RegistryError('station.registry.closed', `registry ${this.path} is closed`);
  }
}

function anchorIn(db: Database): AuditAnchor | undefined {
  const r = rows(db, 'SELECT chain, entries, last FROM audit_anchor WHERE id = 1')[0];
  return r === undefined ? undefined : { chain: String(r.chain), entries: Number(r.entries), last: String(r.last) };
}

function findByMacIn(db: Database, mac: string): DeviceRecord | undefined {
  const norm = normalizeMac(mac);
  if (norm === undefined) return undefined;
  return rows(db, 'SELECT * FROM devices WHERE mac = ?', [norm]).map(toRecord)[0];
}

function writeRecord(db: Database, record: DeviceRecord): void {
  db.run(
    `INSERT INTO devices (${COLUMNS.map((c) => c[0]).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
     ON CONFLICT (device_id) DO UPDATE SET ${COLUMNS.filter((c) => c[0] !== 'device_id')
       .map((c) => `${c[0]} = excluded.${c[0]}`)
       .join(', ')}`,
    COLUMNS.map(([, key]) => record[key] as SqlValue),
  );
}

/** Column name ↔ DeviceRecord property, in table order. */
const COLUMNS: ReadonlyArray<readonly [string, keyof DeviceRecord]> = [
  ['device_id', 'deviceId'],
  ['mac', 'mac'],
  ['chip_revision', 'chipRevision'],
  ['cert_serial', 'certSerial'],
  ['cert_fingerprint_sha256', 'certFingerprintSha256'],
  ['cert_not_after', 'certNotAfter'],
  ['firmware_version', 'firmwareVersion'],
  ['encryption_mode', 'encryptionMode'],
  ['keystore_ref', 'keystoreRef'],
  ['station', 'station'],
  ['operator', 'operator'],
  ['status', 'status'],
  ['reason', 'reason'],
  ['created_at', 'createdAt'],
  ['updated_at', 'updatedAt'],
];

function toRecord(row: Record<string, SqlValue>): DeviceRecord {
  const out: Record<string, unknown> = {};
  for (const [column, key] of COLUMNS) {
    const v = row[column];
    out[key] = v === undefined || v === null ? null : String(v);
  }
  return out as unknown as DeviceRecord;
}

function checkRecord(r: DeviceRecord): void {
  const bad = (what: string): never => {
    throw new RegistryError('station.registry.bad_record', `device record ${JSON.stringify(r.deviceId)}: ${what}`);
  };
  if (typeof r.deviceId !== 'string' || r.deviceId === '') bad('deviceId must be a non-empty string');
  if (!MAC.test(r.mac)) bad(`mac must be lower-case and colon-separated (24:0a:c4:12:34:56), got ${JSON.stringify(r.mac)}`);
  if (!DEVICE_STATUSES.includes(r.status)) bad(`status must be one of ${DEVICE_STATUSES.join(', ')}, got ${JSON.stringify(r.status)}`);
  if (!ENCRYPTION_MODES.includes(r.encryptionMode)) bad(`encryptionMode must be one of ${ENCRYPTION_MODES.join(', ')}, got ${JSON.stringify(r.encryptionMode)}`);
  for (const [, key] of COLUMNS) {
    const v = r[key];
    if (v !== null && typeof v !== 'string') bad(`${key} must be a string or null, got ${typeof v}`);
  }
  for (const key of ['chipRevision', 'station', 'operator', 'createdAt', 'updatedAt'] as const) {
    if (r[key] === null) bad(`${key} must not be null`);
  }
}

function currentVersion(db: Database): number {
  const hasTable = rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").length > 0;
  if (!hasTable) return 0;
  const v = rows(db, 'SELECT MAX(version) AS v FROM schema_version')[0]?.v;
  return typeof v === 'number' ? v : 0;
}

function rows(db: Database, sql: string, params: SqlValue[] = []): Array<Record<string, SqlValue>> {
  const stmt = db.prepare(sql, params);
  try {
    const out: Array<Record<string, SqlValue>> = [];
    while (stmt.step()) out.push(stmt.getAsObject());
    return out;
  } finally {
    stmt.free();
  }
}

export { LATEST_SCHEMA_VERSION };
