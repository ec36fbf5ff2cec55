// The embedded device registry: SQLite (sql.js, WebAssembly) held in memory and written
// back to its file after every write with a durable atomic replace, so a crash leaves
// either the old or the new registry, never half of one. Every write holds `<file>.lock`
// and re-reads the file first, so several espfleet processes on one station lose nothing. The SQLite
// backend of the SQL port (sql-port.ts): a transaction is that locked re-read, change and
// durable replace. Records, anchor and claims are registry-sql.ts; schema changes go
// through registry-migrations.ts.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import initSqlJs, { type Database, type SqlJsStatic, type SqlValue } from 'sql.js';
import { normalizeMac } from '../../firmware-js/device-id.ts';
import { writeFileDurable } from '../io/files.ts';
import { withFileLock } from './file-lock.ts';
import { LATEST_SCHEMA_VERSION, migrations as knownMigrations, type Migration } from './registry-migrations.ts';
import { applyMigrations, RegistryError, SqlRegistry } from './registry-sql.ts';
import { isReadOnlyStatement, type SqlParam, type SqlQueries, type SqlRow } from './sql-port.ts';

export { DEVICE_STATUSES, RegistryError } from './registry-sql.ts';

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
  const open = async (): Promise<SqliteRegistry> => {
    const loaded = loadDatabase(SQL, path, readOnly);
    const registry = new SqliteRegistry(SQL, loaded.db, path, readOnly, list, loaded.stamp, opts.lockTimeoutMs);
    try {
      if ((await applyMigrations(onDatabase(loaded.db), list, path)) && !readOnly) registry.persistNow();
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

export class SqliteRegistry extends SqlRegistry {
  readonly dialect = 'sqlite' as const;
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
  ) {
    super();
  }

  /** Reads see other processes' writes; a statement that writes runs as its own transaction. */
  async query(sql: string, params: readonly SqlParam[] = []): Promise<SqlRow[]> {
    if (!isReadOnlyStatement(sql)) return this.transaction((tx) => tx.query(sql, params));
    return rows(await this.current(), sql, params);
  }

  async run(sql: string, params?: readonly SqlParam[]): Promise<void> {
    await this.transaction((tx) => tx.run(sql, params));
  }

  /**
   * One write, merged with whatever other processes wrote: under the file lock, re-read
   * the file if it changed since we last saw it, apply `fn` to a copy, write it back. On
   * any failure the file and memory are both as before.
   */
  transaction<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      this.usable();
      this.writable();
      return withFileLock(
        this.path,
        async () => {
          this.usable();
          const fresh = fileStamp(this.path) === this.stamp ? undefined : (await this.reload()).db;
          const db = fresh ?? this.db;
          // Work on a copy so a failed change or write leaves memory equal to the file.
          const work = new this.SQL.Database(db.export());
          let result: T;
          try {
            result = await fn(onDatabase(work));
            const bytes = work.export();
            writeFileDurable(this.path, bytes);
          } catch (e) {
            work.close();
            if (fresh) this.adopt(fresh);
            throw e;
          }
          if (fresh) fresh.close();
          this.adopt(work);
          return result;
        },
        { ...lockOptions, ...(this.lockTimeoutMs === undefined ? {} : { timeoutMs: this.lockTimeoutMs }) },
      );
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The file as it is now, migrated in memory (another espfleet may have written it). */
  private async reload(): Promise<{ db: Database; stamp: string | undefined }> {
    const loaded = loadDatabase(this.SQL, this.path, this.readOnly);
    try {
      await applyMigrations(onDatabase(loaded.db), this.migrations, this.path);
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
  private async current(): Promise<Database> {
    this.usable();
    if (fileStamp(this.path) !== this.stamp && fileStamp(this.path) !== undefined) {
      const fresh = await this.reload();
      this.db.close();
      this.db = fresh.db;
      this.stamp = fresh.stamp;
    }
    return this.db;
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

/** The SQL port's statements on one sql.js database (no locking: the caller holds it). */
function onDatabase(db: Database): SqlQueries {
  return {
    dialect: 'sqlite',
    query: async (sql, params = []) => rows(db, sql, params),
    run: async (sql, params) => {
      if (params === undefined) db.run(sql);
      else db.run(sql, params as SqlValue[]);
    },
  };
}

function rows(db: Database, sql: string, params: readonly SqlParam[] = []): SqlRow[] {
  const stmt = db.prepare(sql, params as SqlValue[]);
  try {
    const out: SqlRow[] = [];
    while (stmt.step()) out.push(stmt.getAsObject());
    return out;
  } finally {
    stmt.free();
  }
}

export { LATEST_SCHEMA_VERSION };
