// `espfleet registry migrate`: a station's history moved between registries, either
// backend on either side: SQLite → PostgreSQL, PostgreSQL → SQLite, PostgreSQL →
// PostgreSQL (and SQLite → SQLite). Every table that holds history is copied row for row,
// and the audit chain line for line (hashes unchanged, so `audit verify` passes on the
// target and names the same chain): into `audit_entries` on PostgreSQL, into the file log
// beside the registry file (audit.jsonl and its head) on SQLite. One routine for all:
// read one consistent snapshot of the source, verify its chain, write the target in one
// transaction. The source is never changed. A target that already holds anything is
// refused — unless it holds a prefix of this very chain (an earlier move, interrupted or
// repeated): then the rest is added and nothing is doubled.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chainId, headPath, lineHash, readAuditLines, verifyAuditLog, writeAuditLogFile, type AuditVerifyResult } from './audit-log.ts';
import { auditLines, verifyAnchoredLines } from './audit-sql.ts';
import { withFileLock } from './file-lock.ts';
import { isPostgresUrl, openRegistryAt, type Registry } from './open-registry.ts';
import type { AuditAnchor } from './records.ts';
import { anchorIn, recordAnchorIn, RegistryError } from './registry-sql.ts';
import type { SqlParam, SqlQueries, SqlRow } from './sql-port.ts';

export interface MoveSummary {
  from: string;
  /** Where the source chain was read: its audit log file, or the source database itself. */
  auditLog: string;
  to: string;
  /** Where the chain was written: the target's audit log file, or the target database. */
  targetAuditLog: string;
  devices: number;
  rollouts: number;
  rolloutBoards: number;
  renewals: number;
  signingKeyRotations: number;
  signingKeyRotationBoards: number;
  boardSigningKeys: number;
  auditEntries: number;
  /** Audit entries the target already held (a repeated move). */
  auditAlreadyThere: number;
}

/**
 * The tables that hold history, copied row for row, parents before children (the rotation
 * boards reference their rotation). audit_anchor is not copied but recomputed from the
 * chain; audit_entries is the chain itself. device_claims are left behind on purpose: a
 * claim is a lease of a few minutes held by a running renewal or rotation on the source,
 * meaningless on a registry no station has used yet; copying one would only block the
 * board on the target until it expired.
 */
export const HISTORY_TABLES = ['devices', 'rollouts', 'rollout_boards', 'renewals', 'signing_key_rotations', 'signing_key_rotation_boards', 'board_signing_keys'] as const;
type HistoryTable = (typeof HISTORY_TABLES)[number];

/** Everything moved: the history tables and the chain, read at one moment. */
export interface RegistrySnapshot {
  tables: Record<HistoryTable, SqlRow[]>;
  lines: string[];
  anchor: AuditAnchor | undefined;
}

/** The audit log beside a registry file, as station.toml's default puts it. */
export function auditLogBeside(registryPath: string): string {
  return join(dirname(registryPath), 'audit.jsonl');
}

export interface MoveOptions {
  from: string;
  to: string;
  /** The source's audit log file (a SQLite source only; default: audit.jsonl beside it). */
  auditLog?: string;
  /** Refuse a target that holds anything, even an earlier move of the same chain (a restore). */
  requireEmpty?: boolean;
}

export async function moveRegistry(opts: MoveOptions): Promise<MoveSummary> {
  if (isPostgresUrl(opts.from) && opts.auditLog !== undefined) {
    throw new RegistryError('station.registry.bad_move', 'a PostgreSQL registry holds its audit chain itself; --audit-log names the file log of a SQLite source only');
  }
  if (opts.from === opts.to) throw new RegistryError('station.registry.bad_move', `the source and the target are the same registry ${opts.from}; nothing was moved`);
  const sourceLog = isPostgresUrl(opts.from) ? undefined : (opts.auditLog ?? auditLogBeside(opts.from));
  const source = await openRegistryAt(opts.from, { readOnly: true });
  let snap: RegistrySnapshot;
  try {
    snap = await readSnapshot(source, sourceLog);
  } finally {
    await source.close();
  }
  const summary = await writeTarget(opts.to, snap, opts.requireEmpty ?? false);
  return { ...summary, from: source.path, auditLog: sourceLog ?? source.path };
}

/** The source at one moment, its chain verified; nothing in it is changed. */
export async function readSnapshot(source: Registry, auditLog: string | undefined): Promise<RegistrySnapshot> {
  let snap: RegistrySnapshot;
  let verdict: AuditVerifyResult;
  if (auditLog === undefined) {
    snap = await readPostgresSnapshot(source);
    verdict = verifyAnchoredLines(snap.lines, snap.anchor, source.path);
  } else {
    // Under the audit log's and the registry's locks (the order backup's snapshot takes
    // them): a station appending meanwhile waits, so log, head and anchor agree.
    snap = await withFileLock(auditLog, () => withFileLock(source.path, () => readSqliteSnapshot(source, auditLog), { what: 'registry', code: 'station.registry.locked' }), { what: 'audit log', code: 'station.audit.locked' });
    verdict = verifyAuditLog(auditLog, snap.anchor ? { anchor: snap.anchor, anchorSource: `the registry ${source.path}` } : {});
  }
  if (!verdict.ok) {
    const where = auditLog ?? `the registry ${source.path}`;
    throw new RegistryError('station.registry.bad_move', `the audit chain of ${where} fails verification at line ${verdict.problem!.line}: ${verdict.problem!.reason}; nothing was moved`, {
      hint: auditLog === undefined ? `inspect it with \`espfleet audit verify --registry ${source.path}\`` : `inspect it with \`espfleet audit verify --audit-log ${auditLog} --registry ${source.path}\``,
    });
  }
  return snap;
}

/**
 * One statement, so one snapshot of every table and the chain (PostgreSQL gives each
 * statement its own consistent view): an append committed meanwhile is either all in it
 * or not at all. No lock is taken, so stations on the source keep working.
 */
async function readPostgresSnapshot(source: Registry): Promise<RegistrySnapshot> {
  const parts = HISTORY_TABLES.map((t) => `(SELECT COALESCE(json_agg(t), '[]'::json) FROM ${t} t) AS ${t}`);
  const row = (
    await source.query(
      `SELECT ${parts.join(', ')},
        (SELECT COALESCE(json_agg(line ORDER BY seq), '[]'::json) FROM audit_entries) AS audit_lines,
        (SELECT row_to_json(a) FROM audit_anchor a WHERE id = 1) AS audit_anchor`,
    )
  )[0]!;
  const tables = Object.fromEntries(HISTORY_TABLES.map((t) => [t, row[t] as unknown as SqlRow[]])) as Record<HistoryTable, SqlRow[]>;
  const a = row.audit_anchor as unknown as { chain: string; entries: number; last: string } | null;
  return { tables, lines: row.audit_lines as unknown as string[], anchor: a === null ? undefined : { chain: a.chain, entries: Number(a.entries), last: a.last } };
}

async function readSqliteSnapshot(source: Registry, auditLog: string): Promise<RegistrySnapshot> {
  const tables = {} as Record<HistoryTable, SqlRow[]>;
  for (const t of HISTORY_TABLES) tables[t] = await source.query(`SELECT * FROM ${t}`);
  return { tables, lines: readAuditLines(auditLog), anchor: await source.auditAnchor() };
}

async function writeTarget(to: string, snap: RegistrySnapshot, requireEmpty: boolean): Promise<Omit<MoveSummary, 'from' | 'auditLog'>> {
  const onFile = !isPostgresUrl(to);
  const targetLog = onFile ? auditLogBeside(to) : undefined;
  // A refused move leaves no new registry file behind.
  const created = onFile && !existsSync(to);
  let target: Registry | undefined;
  try {
    target = await openRegistryAt(to);
    const where = target.path;
    const { lines } = snap;
    const already = await target.transaction(async (tx) => {
      const there = targetLog === undefined ? await auditLines(tx) : readAuditLines(targetLog);
      const sameChain = there.length <= lines.length && there.every((l, i) => l === lines[i]);
      let holds = there.length;
      for (const t of HISTORY_TABLES) holds += await count(tx, t);
      if (holds > 0 && (requireEmpty || !sameChain || there.length === 0)) {
        throw new RegistryError('station.registry.target_not_empty', `the registry ${where} already holds ${requireEmpty && sameChain ? 'a' : 'another'} station history (${holds} rows${targetLog ? ` and entries of ${targetLog}` : ''}); nothing was moved`, {
          hint: requireEmpty ? 'restore into an empty database' : 'move into an empty database or a new file; a repeated move of the same station is accepted',
        });
      }
      for (const t of HISTORY_TABLES) for (const row of snap.tables[t]) await insertRow(tx, t, row);
      const anchor: AuditAnchor | undefined = lines.length > 0 ? { chain: chainId(lines[0]!), entries: lines.length, last: lineHash(lines[lines.length - 1]!) } : undefined;
      if (targetLog === undefined) {
        for (let seq = there.length; seq < lines.length; seq++) {
          await tx.run('INSERT INTO audit_entries (seq, line, append_key) VALUES (?, ?, ?)', [seq, lines[seq]!, `moved:${seq}`]);
        }
      } else if (there.length < lines.length || !existsSync(headPath(targetLog))) {
        // Before the registry commits: a failed write leaves the registry file as it was.
        writeAuditLogFile(targetLog, lines);
      }
      if (anchor && (await anchorIn(tx))?.entries !== anchor.entries) await recordAnchorIn(tx, anchor);
      return there.length;
    });
    return {
      to: where,
      targetAuditLog: targetLog ?? where,
      devices: snap.tables.devices.length,
      rollouts: snap.tables.rollouts.length,
      rolloutBoards: snap.tables.rollout_boards.length,
      renewals: snap.tables.renewals.length,
      signingKeyRotations: snap.tables.signing_key_rotations.length,
      signingKeyRotationBoards: snap.tables.signing_key_rotation_boards.length,
      boardSigningKeys: snap.tables.board_signing_keys.length,
      auditEntries: lines.length,
      auditAlreadyThere: already,
    };
  } catch (e) {
    await target?.close();
    target = undefined;
    if (created) rmSync(to, { force: true });
    throw e;
  } finally {
    await target?.close();
  }
}

async function count(q: SqlQueries, table: string): Promise<number> {
  return Number((await q.query(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n ?? 0);
}

/** The row as it is; a row already there (a repeated move) is kept. */
async function insertRow(tx: SqlQueries, table: string, row: SqlRow): Promise<void> {
  const cols = Object.keys(row);
  await tx.run(
    `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
    cols.map((c) => (row[c] === undefined ? null : (row[c] as SqlParam))),
  );
}
