// The registry on a shared PostgreSQL server (issue 18): the PostgreSQL backend of the SQL
// port (sql-port.ts) on a `pg` pool. Every write transaction first takes one
// transaction-level advisory lock, so writers from every station are serialised exactly
// as the SQLite file lock serialises them on one machine: a read-check-write inside a
// transaction (a MAC claimed once, the audit chain's next entry, a rollout's next step)
// sees no interleaved writer. Reads take no lock. A lost connection (the server
// restarted), a serialisation failure or a deadlock is retried with backoff for a
// bounded time; transaction bodies are idempotent, so a retry after a commit whose reply
// was lost changes nothing twice. The URL's password never appears in a message.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { migrations as knownMigrations, type Migration } from './registry-migrations.ts';
import { applyMigrations, RegistryError, SqlRegistry } from './registry-sql.ts';
import { isReadOnlyStatement, numberedPlaceholders, type SqlParam, type SqlQueries, type SqlRow } from './sql-port.ts';

export interface OpenPostgresOptions {
  readOnly?: boolean;
  /** The schema history to apply (tests pass a prefix). */
  migrations?: readonly Migration[];
  /** How long an operation keeps retrying a lost connection (default 60 s). */
  retryForMs?: number;
  /** Connections this process keeps (default 4). */
  poolSize?: number;
}

/** pg_advisory_xact_lock key of the registry's write lock: "espfleet" in ASCII, as a 64-bit number. */
const WRITE_LOCK_KEY = '7310575284442640500';

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL with its password replaced by *** (for messages, logs, `registry status`). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/**
 * The pool settings for a postgres:// URL: host, port, user, password, database, and TLS
 * as libpq's sslmode says — disable (or none): plain; require: encrypted, server not
 * verified; verify-ca: the server's certificate must chain to sslrootcert; verify-full:
 * that and its name must match the host.
 */
export function postgresConnection(url: string): pg.PoolConfig {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RegistryError('station.registry.bad_url', `not a database URL: ${redactUrl(url)}`, { hint: 'postgres://user:password@host:5432/database?sslmode=verify-full&sslrootcert=ca.pem' });
  }
  const q = u.searchParams;
  const mode = q.get('sslmode') ?? 'disable';
  const rootcert = q.get('sslrootcert');
  const readCa = (): string | undefined => {
    if (rootcert === null) return undefined;
    try {
      return readFileSync(rootcert, 'utf8');
    } catch (e) {
      throw new RegistryError('station.registry.bad_url', `cannot read sslrootcert ${rootcert}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'sslrootcert names the PEM file of the CA that signed the database server\'s certificate',
      });
    }
  };
  let ssl: pg.PoolConfig['ssl'];
  switch (mode) {
    case 'disable':
      ssl = false;
      break;
    case 'require': {
      // libpq: with a root certificate, require verifies the chain as verify-ca does.
      const ca = readCa();
      ssl = ca === undefined ? { rejectUnauthorized: false } : { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
      break;
    }
    case 'verify-ca':
    case 'verify-full': {
      const ca = readCa();
      ssl = { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: true, ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
      break;
    }
    default:
      throw new RegistryError('station.registry.bad_url', `sslmode=${mode} is not supported in ${redactUrl(url)}`, {
        hint: 'use sslmode=disable, require, verify-ca or verify-full (espfleet never falls back from TLS to plain)',
      });
  }
  const socketDir = q.get('host');
  return {
    host: socketDir ?? (decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || 'localhost'),
    port: u.port === '' ? 5432 : Number(u.port),
    ...(u.username === '' ? {} : { user: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'espfleet',
    ssl,
    application_name: 'espfleet',
  };
}

/** A failure worth retrying: the connection went away, or the server asked for a retry. */
export function isTransient(e: unknown): boolean {
  if (e instanceof RegistryError) return false;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code === '40001' || code === '40P01') return true; // serialization_failure, deadlock_detected
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true; // connection exceptions, shutdown, starting up
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN', 'EHOSTUNREACH'].includes(code)) return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection|the database system is (starting up|shutting down)/i.test((e as Error | null)?.message ?? '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openPostgresRegistry(url: string, opts: OpenPostgresOptions = {}): Promise<PgRegistry> {
  const config = postgresConnection(url);
  const pool = new pg.Pool({ ...config, max: opts.poolSize ?? 4, connectionTimeoutMillis: 10_000 });
  // An idle connection cut by a server restart is reported here; the next use reconnects.
  pool.on('error', () => undefined);
  const registry = new PgRegistry(pool, redactUrl(url), opts.readOnly ?? false, opts.retryForMs ?? 60_000, typeof config.password === "string" ? config.password : undefined);
  try {
    // Migrations under the write lock: two stations opening a fresh database run them once.
    await registry.migrateNow(opts.migrations ?? knownMigrations);
  } catch (e) {
    await registry.close();
    throw e;
  }
  return registry;
}

export class PgRegistry extends SqlRegistry {
  readonly dialect = 'postgres' as const;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    readonly path: string,
    readonly readOnly: boolean,
    private readonly retryForMs: number,
    private readonly password: string | undefined,
  ) {
    super();
  }

  /** @internal */
  async migrateNow(list: readonly Migration[]): Promise<void> {
    await this.locked((tx) => applyMigrations(tx, list, this.path));
  }

  async query(sql: string, params: readonly SqlParam[] = []): Promise<SqlRow[]> {
    if (!isReadOnlyStatement(sql)) return this.transaction((tx) => tx.query(sql, params));
    return this.retrying(async () => (await this.pool.query(numberedPlaceholders(sql), params as SqlParam[])).rows as SqlRow[]);
  }

  async run(sql: string, params?: readonly SqlParam[]): Promise<void> {
    await this.transaction((tx) => tx.run(sql, params));
  }

  async transaction<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T> {
    this.usable();
    this.writable();
    return this.locked(fn);
  }

  /** BEGIN, the write lock, `fn`, COMMIT — retried whole on a transient failure. */
  private locked<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T> {
    return this.retrying(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      // The server may end the connection between our statements (a restart): pg reports
      // that as an 'error' event on the checked-out client, which must be heard, not thrown.
      const onError = (e: Error) => (broken = e);
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK_KEY]);
        const result = await fn(onClient(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        if (isTransient(e)) broken = e as Error;
        else await client.query('ROLLBACK').catch((r: unknown) => (broken = r as Error));
        throw e;
      } finally {
        // A connection that failed is dropped, not handed to the next query.
        client.off('error', onError);
        client.release(broken);
      }
    });
  }

  private async retrying<T>(op: () => Promise<T>): Promise<T> {
    this.usable();
    const until = Date.now() + this.retryForMs;
    let wait = 100;
    for (;;) {
      try {
        return await op();
      } catch (e) {
        if (!isTransient(e)) throw this.redacted(e);
        if (Date.now() + wait > until || this.closed) {
          throw new RegistryError('station.registry.unreachable', `registry database ${this.path} did not answer for ${Math.round(this.retryForMs / 1000)} s: ${this.redactText((e as Error).message)}`, {
            cause: e,
            hint: 'check that the PostgreSQL server is up and reachable; nothing was recorded by the failed operation',
          });
        }
        await sleep(wait);
        wait = Math.min(wait * 2, 2_000);
      }
    }
  }

  private redactText(text: string): string {
    return this.password ? text.split(this.password).join('***') : text;
  }

  private redacted(e: unknown): unknown {
    if (e instanceof Error && this.password && e.message.includes(this.password)) e.message = this.redactText(e.message);
    return e;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private usable(): void {
    if (this.closed) throw new RegistryError('station.registry.closed', `registry ${this.path} is closed`);
  }
}

function onClient(client: pg.PoolClient): SqlQueries {
  return {
    dialect: 'postgres',
    query: async (sql, params = []) => (await client.query(numberedPlaceholders(sql), params as SqlParam[])).rows as SqlRow[],
    run: async (sql, params) => {
      // Without params: the simple protocol, which takes several statements (migrations).
      if (params === undefined) await client.query(sql);
      else await client.query(numberedPlaceholders(sql), params as SqlParam[]);
    },
  };
}
