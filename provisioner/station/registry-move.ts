// `espfleet registry migrate`: a station's history moved from its SQLite file (and the
// audit log file beside it) into a PostgreSQL registry, in one transaction: devices,
// rollouts and their boards, the renewal journal, and the audit chain line for line (the
// hashes unchanged, so `audit verify` passes on the target and names the same chain).
// The source is verified first and never changed. A target that already holds anything is
// refused — unless it holds a prefix of this very chain (an earlier move, interrupted or
// repeated): then the rest is added and nothing is doubled.
import { dirname, join } from 'node:path';
import { chainId, lineHash, verifyAuditLog } from './audit-log.ts';
import { auditLines } from './audit-sql.ts';
import { isPostgresUrl, openRegistryAt } from './open-registry.ts';
import { recordAnchorIn, RegistryError, writeRecord } from './registry-sql.ts';
import type { SqlParam, SqlQueries, SqlRow } from './sql-port.ts';
import { readFileSync } from 'node:fs';

export interface MoveSummary {
  from: string;
  auditLog: string;
  to: string;
  devices: number;
  rollouts: number;
  rolloutBoards: number;
  renewals: number;
  auditEntries: number;
  /** Audit entries the target already held (a repeated move). */
  auditAlreadyThere: number;
}

/** Tables copied row for row besides devices (which go through the record checks). */
const TABLES = ['rollouts', 'rollout_boards', 'renewals'] as const;

/** The audit log beside a registry file, as station.toml's default puts it. */
export function auditLogBeside(registryPath: string): string {
  return join(dirname(registryPath), 'audit.jsonl');
}

export async function moveRegistry(opts: { from: string; to: string; auditLog?: string }): Promise<MoveSummary> {
  if (isPostgresUrl(opts.from)) throw new RegistryError('station.registry.bad_move', 'the source of a move is a SQLite registry file (--from sqlite:PATH)');
  if (!isPostgresUrl(opts.to)) throw new RegistryError('station.registry.bad_move', 'the target of a move is a PostgreSQL registry (--to postgres://…)');
  const auditLog = opts.auditLog ?? auditLogBeside(opts.from);
  const source = await openRegistryAt(opts.from, { readOnly: true });
  try {
    const anchor = await source.auditAnchor();
    const verdict = verifyAuditLog(auditLog, anchor ? { anchor, anchorSource: `the registry ${opts.from}` } : {});
    if (!verdict.ok) {
      throw new RegistryError('station.registry.bad_move', `the audit log ${auditLog} fails verification at line ${verdict.problem!.line}: ${verdict.problem!.reason}; nothing was moved`, {
        hint: `inspect it with \`espfleet audit verify --audit-log ${auditLog} --registry ${opts.from}\``,
      });
    }
    const lines = readLines(auditLog);
    const devices = await source.list();
    const copied: Record<(typeof TABLES)[number], SqlRow[]> = { rollouts: [], rollout_boards: [], renewals: [] };
    for (const t of TABLES) copied[t] = await source.query(`SELECT * FROM ${t}`);

    const target = await openRegistryAt(opts.to);
    try {
      const already = await target.transaction(async (tx) => {
        const there = await auditLines(tx);
        const sameChain = there.length <= lines.length && there.every((l, i) => l === lines[i]);
        const holds = (await count(tx, 'devices')) + (await count(tx, 'rollouts')) + (await count(tx, 'renewals')) + there.length;
        if (holds > 0 && (!sameChain || there.length === 0)) {
          throw new RegistryError('station.registry.target_not_empty', `the registry ${target.path} already holds another station history (${holds} rows); nothing was moved`, {
            hint: 'move into an empty database; a repeated move of the same station is accepted',
          });
        }
        for (const d of devices) await writeRecord(tx, d);
        for (const t of TABLES) for (const row of copied[t]) await insertRow(tx, t, row);
        for (let seq = there.length; seq < lines.length; seq++) {
          await tx.run('INSERT INTO audit_entries (seq, line, append_key) VALUES (?, ?, ?)', [seq, lines[seq]!, `moved:${seq}`]);
        }
        if (lines.length > 0) await recordAnchorIn(tx, { chain: chainId(lines[0]!), entries: lines.length, last: lineHash(lines[lines.length - 1]!) });
        return there.length;
      });
      return {
        from: opts.from,
        auditLog,
        to: target.path,
        devices: devices.length,
        rollouts: copied.rollouts.length,
        rolloutBoards: copied.rollout_boards.length,
        renewals: copied.renewals.length,
        auditEntries: lines.length,
        auditAlreadyThere: already,
      };
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
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
