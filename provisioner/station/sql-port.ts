// The one way the station's stores talk to their database, whichever it is: the embedded
// SQLite file or a shared PostgreSQL server (issue 18). Statements use `?` placeholders in
// both dialects (the PostgreSQL backend numbers them $1, $2 …) and the portable subset of
// SQL both run: TEXT/INTEGER/BIGINT columns, `INSERT … ON CONFLICT (…) DO UPDATE SET x =
// excluded.x`, ORDER BY/LIMIT. A write is one `transaction`: serialised with every other
// write to the same registry (SQLite: the file lock; PostgreSQL: one advisory lock), so a
// read-check-write inside it sees no interleaved writer. A transaction body may run more
// than once (PostgreSQL retries it after a lost connection whose commit is unknown): it
// must be idempotent, as every store's upsert-shaped write is.

export type SqlDialect = 'sqlite' | 'postgres';
export type SqlParam = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface SqlQueries {
  readonly dialect: SqlDialect;
  /** One statement; its rows (none for a write without RETURNING). */
  query(sql: string, params?: readonly SqlParam[]): Promise<SqlRow[]>;
  /** One statement with params, or several without (migrations' DDL). */
  run(sql: string, params?: readonly SqlParam[]): Promise<void>;
}

export interface SqlPort extends SqlQueries {
  /** Runs `fn` as one atomic write, serialised with every other writer of this registry. */
  transaction<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T>;
}

/** `?` → `$1`, `$2` … (the registry's statements hold no `?` inside string literals). */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A statement that only reads (may run outside a write transaction). */
export function isReadOnlyStatement(sql: string): boolean {
  return /^\s*(SELECT|WITH)\b/i.test(sql);
}

/** A column value as text (PostgreSQL returns BIGINT and COUNT as strings, SQLite as numbers). */
export function textOrNull(v: unknown): string | null {
  return v === undefined || v === null ? null : String(v);
}
