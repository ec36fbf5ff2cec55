// The registry on a shared PostgreSQL server (issue 18): the PostgreSQL backend of the SQL
// port (sql-port.ts) on a `pg` pool. Every write transaction first takes one
// transaction-level advisory lock, so writers from every station are serialised exactly
// as the SQLite file lock serialises them on one machine: a read-check-write inside a
// transaction (a MAC claimed once, the audit chain's next entry, a rollout's next step)
// sees no interleaved writer. Reads take no lock. A lost connection (the server
// restarted), a serialisation failure or a deadlock is retried with backoff for a
// bounded time; transaction bodies are idempotent, so a retry after a commit whose reply
// was lost changes nothing twice. The URL's password never appears in a message.
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import pg from 'pg';
import { passfilePath, passwordFromPassfile } from './pg-passfile.ts';
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

/** The sslmode values espfleet accepts, weakest first. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * The pool settings for a postgres:// URL: host, port, user, password, database, and TLS
 * as libpq's sslmode and sslrootcert/sslcert/sslkey say (see tlsOptions).
 */
export function postgresConnection(url: string, env: Record<string, string | undefined> = process.env): pg.PoolConfig {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RegistryError('station.registry.bad_url', `not a database URL: ${redactUrl(url)}`, { hint: 'postgres://user:password@host:5432/database?sslmode=verify-full&sslrootcert=ca.pem' });
  }
  const q = u.searchParams;
  // Discrete options, never `connectionString`: pg would parse sslmode from it by its own
  // rules (and PGSSLMODE when `ssl` is left undefined), so `ssl` is always set here.
  const ssl = tlsOptions(q, redactUrl(url));
  const socketDir = q.get('host');
  // As in libpq, sslmode does not apply to a Unix socket: the server never offers TLS there.
  const local = socketDir !== null && socketDir.startsWith('/');
  const host = socketDir ?? (decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || 'localhost');
  const port = u.port === '' ? 5432 : Number(u.port);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'espfleet';
  const user = u.username === '' ? undefined : decodeURIComponent(u.username);
  // No password in the URL: libpq's password file, so none need be kept in station.toml.
  const password = u.password !== '' ? decodeURIComponent(u.password) : passwordFromPassfile(passfilePath(q.get('passfile'), env), { host, port, database, user: user ?? env.USER ?? userInfo().username });
  return {
    host,
    port,
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { password }),
    database,
    ssl: local ? false : ssl,
    application_name: 'espfleet',
  };
}

/**
 * libpq's sslmode as `pg`/`tls.connect` options. `pg` opens one connection the way it is
 * told and cannot fall back from TLS to plain (or back), so libpq's opportunistic modes are
 * refused rather than guessed at: `prefer` (libpq's default) and `allow` would silently
 * send the password in clear to a server without TLS, or to whoever answers in its place.
 * Without sslmode the connection is plain, as `disable`; a URL that names a CA file or a
 * client certificate but no sslmode is refused, since it plainly meant TLS.
 *   disable      plain TCP
 *   require      encrypted; the server is not checked — unless sslrootcert is given, then
 *                its chain is, as libpq does (and as verify-ca)
 *   verify-ca    encrypted; the certificate must chain to sslrootcert; any name
 *   verify-full  as verify-ca, and the certificate must name the URL's host
 * sslrootcert=PATH is a PEM file of CAs; absent (or `system`) means the CAs Node trusts
 * (its bundle plus NODE_EXTRA_CA_CERTS) — libpq's ~/.postgresql/root.crt is not read.
 * sslcert/sslkey (PEM files) present a client certificate, for `cert` in pg_hba.conf.
 */
function tlsOptions(q: URLSearchParams, where: string): pg.PoolConfig['ssl'] {
  const mode = q.get('sslmode');
  const file = (param: 'sslrootcert' | 'sslcert' | 'sslkey', what: string): string | undefined => {
    const path = q.get(param);
    if (path === null || (param === 'sslrootcert' && path === 'system')) return undefined;
    try {
      if (param === 'sslkey') refuseOpenKey(path);
      return readFileSync(path, 'utf8');
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError('station.registry.bad_url', `cannot read ${param} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: `${param} names ${what}` });
    }
  };
  if (mode === null || mode === 'disable') {
    const tlsParam = ['sslrootcert', 'sslcert', 'sslkey'].find((p) => q.has(p));
    if (mode === null && tlsParam !== undefined) {
      throw new RegistryError('station.registry.bad_url', `${tlsParam} is given but no sslmode in ${where}`, { hint: 'add sslmode=verify-full (or verify-ca, require) to connect with TLS' });
    }
    return false;
  }
  if (mode === 'prefer' || mode === 'allow') {
    throw new RegistryError('station.registry.bad_url', `sslmode=${mode} is not supported in ${where}: it falls back to plain TCP when TLS fails`, {
      hint: 'use sslmode=verify-full with sslrootcert (or require, verify-ca) for TLS, or disable for plain TCP on a trusted network',
    });
  }
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new RegistryError('station.registry.bad_url', `unknown sslmode=${mode} in ${where}`, { hint: `use one of ${SSL_MODES.join(', ')}` });
  }
  const ca = file('sslrootcert', "the PEM file of the CA that signed the database server's certificate");
  const cert = file('sslcert', 'the PEM file of this station\'s client certificate');
  const key = file('sslkey', 'the PEM file of the client certificate\'s private key');
  if ((cert === undefined) !== (key === undefined)) {
    throw new RegistryError('station.registry.bad_url', `${cert === undefined ? 'sslkey' : 'sslcert'} is given without ${cert === undefined ? 'sslcert' : 'sslkey'} in ${where}`, { hint: 'a client certificate needs both sslcert and sslkey' });
  }
  const client = cert === undefined ? {} : { cert, key };
  // tls.connect checks the name only in its default checkServerIdentity; the chain is
  // checked by rejectUnauthorized alone.
  const anyName = { checkServerIdentity: () => undefined };
  if (mode === 'require' && ca === undefined) return { rejectUnauthorized: false, ...client };
  return { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: true, ...(mode === 'verify-full' ? {} : anyName), ...client };
}

/**
 * libpq's rule for the client key, which PEM keeps unencrypted: no access for others, and
 * for group only read when root owns it (0600, or 0640 owned by root).
 */
function refuseOpenKey(path: string): void {
  const st = statSync(path);
  const allowed = st.uid === 0 ? 0o037 : 0o077;
  if ((st.mode & allowed) !== 0) {
    throw new RegistryError('station.registry.bad_url', `the client key ${path} can be read by others (mode ${(st.mode & 0o777).toString(8)}); it is not used`, {
      hint: `chmod 600 ${path}`,
    });
  }
}

/** Node's codes for a server certificate that did not verify (tls.connect, OpenSSL). */
const UNTRUSTED_CERT = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'INVALID_PURPOSE',
  'CERT_CHAIN_TOO_LONG', 'PATH_LENGTH_EXCEEDED', 'CERT_REVOKED',
]);

/**
 * Why a connection failed its TLS setup, with what to try — or undefined when the failure
 * is not about TLS. Every one of these is permanent: a retry meets the same certificate.
 */
export function tlsFailure(e: unknown): { reason: string; hint: string } | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  const message = (e as Error | null)?.message ?? '';
  if (typeof code === 'string' && UNTRUSTED_CERT.has(code)) {
    return { reason: `the server's certificate is not trusted (${code}: ${message})`, hint: "sslrootcert must name the CA that issued the database server's certificate" };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { reason: `the server's certificate does not name the host (${message})`, hint: "connect by a name in the certificate's subjectAltName, or reissue the certificate for this host" };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return { reason: `the server's certificate is out of its validity period (${code})`, hint: "renew the database server's certificate, or check this machine's clock" };
  }
  if (message === 'The server does not support SSL connections') {
    return { reason: 'the server does not speak TLS', hint: 'turn ssl on at the server (ssl_cert_file, ssl_key_file), or use sslmode=disable on a trusted network only' };
  }
  // The server's alert when it does not trust the client certificate we sent.
  if (code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' || code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' || code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN') {
    return { reason: `the server does not accept our client certificate (${code})`, hint: "sslcert must be issued by the CA in the server's ssl_ca_file" };
  }
  if (message === 'There was an error establishing an SSL connection' || (typeof code === 'string' && /^ERR_(SSL|TLS)_/.test(code))) {
    // OpenSSL's own text runs over several lines of source locations: the code says it.
    return { reason: `the TLS handshake failed (${typeof code === 'string' ? code : message})`, hint: "check the server's ssl settings, and the client certificate if pg_hba.conf asks for one" };
  }
  if (code === '28000' && /no encryption/.test(message)) {
    // pg_hba.conf refused a plain connection that a hostssl line would accept.
    return { reason: `the server refuses connections without TLS (${message})`, hint: 'add sslmode=verify-full&sslrootcert=<CA file> to the registry URL' };
  }
  if (code === '28000' && /client certificate|certificate authentication/.test(message)) {
    // pg_hba.conf's `cert` method (or clientcert=verify-full) and no acceptable certificate.
    return { reason: `the server asks for a client certificate (${message})`, hint: "add sslcert and sslkey naming a certificate whose CN is the URL's user name" };
  }
  return undefined;
}

/** A failure worth retrying: the connection went away, or the server asked for a retry. */
export function isTransient(e: unknown): boolean {
  if (e instanceof RegistryError || tlsFailure(e) !== undefined) return false;
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
        const tls = tlsFailure(e);
        if (tls !== undefined) {
          throw new RegistryError('station.registry.tls', `cannot open a TLS connection to registry database ${this.path}: ${this.redactText(tls.reason)}`, { cause: e, hint: tls.hint });
        }
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
