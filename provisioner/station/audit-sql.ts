// The audit chain of a registry on PostgreSQL: the same entries as the file log
// (audit-log.ts — canonical JSON, hash-chained, seq in order) kept one per row of
// `audit_entries` (migration 6), with the anchor in `audit_anchor` written in the same
// transaction. An append is one registry transaction, so it holds the registry's write
// lock: entries from every station chain one after the other, never forked. Each append
// carries a random key; if the connection is lost after the commit and the transaction is
// retried, the retry finds its own entry by the key and adds no second one. A station on
// the SQLite file keeps the file log; openStationAudit picks the one the registry implies.
import { randomUUID } from 'node:crypto';
import { AuditLogError, chainId, GENESIS_PREV, lineHash, makeAuditEntry, openAuditLog, readAuditLines, verifyAuditLines, verifyAuditLog, type AuditInput, type AuditLogOptions, type AuditVerifyResult } from './audit-log.ts';
import type { Registry } from './open-registry.ts';
import type { AuditAnchor, AuditEntry, AuditLog } from './records.ts';
import { anchorIn, recordAnchorIn } from './registry-sql.ts';
import type { SqlQueries } from './sql-port.ts';

export class SqlAuditLog implements AuditLog {
  constructor(
    private readonly registry: Registry,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  append(input: AuditInput): Promise<AuditEntry> {
    const key = randomUUID();
    const at = this.clock();
    // Checked before the transaction: a bad entry is refused without touching the database.
    makeAuditEntry(0, GENESIS_PREV, at, input);
    return this.registry.transaction(async (tx) => {
      const mine = (await tx.query('SELECT line FROM audit_entries WHERE append_key = ?', [key]))[0];
      if (mine) return JSON.parse(String(mine.line)) as AuditEntry;
      const last = (await tx.query('SELECT seq, line FROM audit_entries ORDER BY seq DESC LIMIT 1'))[0];
      const seq = last === undefined ? 0 : Number(last.seq) + 1;
      const prev = last === undefined ? GENESIS_PREV : lineHash(String(last.line));
      const anchor = await anchorIn(tx);
      // The anchor is written with every entry: any difference is rows removed or rewritten.
      if (anchor && (anchor.entries !== seq || anchor.last !== prev)) {
        throw new AuditLogError('station.audit.corrupt', `the audit chain in ${this.registry.path} does not match its anchor (${anchor.entries} entries anchored, ${seq} in the table)`, {
          hint: 'nothing was appended; inspect it with `espfleet audit verify`',
        });
      }
      const { entry, line } = makeAuditEntry(seq, prev, at, input);
      await tx.run('INSERT INTO audit_entries (seq, line, append_key) VALUES (?, ?, ?)', [seq, line, key]);
      const next: AuditAnchor = { chain: seq === 0 ? chainId(line) : anchor!.chain, entries: seq + 1, last: lineHash(line) };
      await recordAnchorIn(tx, next);
      return entry;
    });
  }
}

/** The chain's lines in order. */
export async function auditLines(q: SqlQueries): Promise<string[]> {
  return (await q.query('SELECT line FROM audit_entries ORDER BY seq')).map((r) => String(r.line));
}

/** A registry's chain judged against its anchor, as `audit verify` judges it. */
export function verifyAnchoredLines(lines: readonly string[], anchor: AuditAnchor | undefined, registryPath: string): AuditVerifyResult {
  // The anchor is written with every entry: entries without one were put there by something else.
  if (anchor === undefined && lines.length > 0) return { ok: false, entries: 0, problem: { line: 1, reason: `the registry ${registryPath} holds ${lines.length} entries but no anchor` } };
  return verifyAuditLines(lines, anchor ? { anchor, anchorSource: `the registry ${registryPath}` } : {});
}

/** `audit verify` for a registry that holds its chain: the rows, chained, against the anchor (and the rows themselves). */
export async function verifyRegistryAudit(registry: Registry): Promise<AuditVerifyResult & { anchor: AuditAnchor | undefined; lines: string[] }> {
  // One statement, so one snapshot of rows and anchor: no append seen half-way.
  const rows = await registry.query(
    `SELECT 'e' AS kind, seq, line, NULL AS chain, NULL AS entries, NULL AS last FROM audit_entries
     UNION ALL SELECT 'a' AS kind, NULL, NULL, chain, entries, last FROM audit_anchor WHERE id = 1
     ORDER BY kind DESC, seq`,
  );
  const lines = rows.filter((r) => r.kind === 'e').map((r) => String(r.line));
  const a = rows.find((r) => r.kind === 'a');
  const anchor = a === undefined ? undefined : { chain: String(a.chain), entries: Number(a.entries), last: String(a.last) };
  return { ...verifyAnchoredLines(lines, anchor, registry.path), anchor, lines };
}

/** Whether the registry keeps the audit chain itself (PostgreSQL) rather than beside it in a file. */
export function chainInRegistry(registry: Registry): boolean {
  return registry.dialect === 'postgres';
}

/** The station's audit log: the table of a PostgreSQL registry, else the file at `path` anchored in the registry. */
export async function openStationAudit(registry: Registry, path: string, opts: Pick<AuditLogOptions, 'clock'> = {}): Promise<AuditLog> {
  if (chainInRegistry(registry)) return new SqlAuditLog(registry, opts.clock);
  return openAuditLog(path, { ...opts, anchor: registry });
}

/** The station's audit chain verified where it is: the registry's table, or the file against the registry's anchor. */
export async function verifyStationAudit(registry: Registry, path: string): Promise<AuditVerifyResult> {
  if (chainInRegistry(registry)) {
    const { anchor: _anchor, lines: _lines, ...result } = await verifyRegistryAudit(registry);
    return result;
  }
  const anchor = await registry.auditAnchor();
  return verifyAuditLog(path, anchor ? { anchor, anchorSource: `the registry ${registry.path}` } : {});
}

/** The station's audit entries in order, from wherever they are kept. */
export async function stationAuditEntries(registry: Registry, path: string): Promise<AuditEntry[]> {
  const lines = chainInRegistry(registry) ? await auditLines(registry) : readAuditLines(path);
  return lines.map((l) => JSON.parse(l) as AuditEntry);
}
