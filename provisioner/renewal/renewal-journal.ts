// The renewal service's journal, kept in the registry file (like fleet/rollout-store.ts):
// one row per (device, request id). A certificate is written here, durably, before the CA
// index records it and before it is published, so a killed `ca renewd` re-sends the same
// certificate for a re-sent request and never signs one request twice. The table is the
// registry's migration 5 (station/registry-migrations.ts).
import type { Database, SqlValue } from 'sql.js';
import type { SqliteRegistry } from '../station/registry-sqlite.ts';

export type RenewalState = 'signed' | 'published' | 'confirmed' | 'superseded' | 'refused';

export interface RenewalRow {
  deviceId: string;
  req: string;
  state: RenewalState;
  csrSha256: string;
  spkiSha256: string | null;
  /** The serial the device held when the CSR came (revoked once the new one is in use). */
  oldSerial: string | null;
  serial: string | null;
  notAfter: string | null;
  certPem: string | null;
  errorCode: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}


const COLUMNS: ReadonlyArray<readonly [string, keyof RenewalRow]> = [
  ['device_id', 'deviceId'],
  ['req_id', 'req'],
  ['state', 'state'],
  ['csr_sha256', 'csrSha256'],
  ['spki_sha256', 'spkiSha256'],
  ['old_serial', 'oldSerial'],
  ['serial', 'serial'],
  ['not_after', 'notAfter'],
  ['cert_pem', 'certPem'],
  ['error_code', 'errorCode'],
  ['error', 'error'],
  ['created_at', 'createdAt'],
  ['updated_at', 'updatedAt'],
];


function select(db: Database, where: string, params: SqlValue[]): RenewalRow[] {
  const s = db.prepare(`SELECT * FROM renewals ${where}`, params);
  const out: RenewalRow[] = [];
  try {
    while (s.step()) {
      const r = s.getAsObject();
      const row: Record<string, unknown> = {};
      for (const [c, k] of COLUMNS) row[k] = r[c] === undefined || r[c] === null ? null : String(r[c]);
      out.push(row as unknown as RenewalRow);
    }
  } finally {
    s.free();
  }
  return out;
}

export class RenewalJournal {
  constructor(private readonly registry: SqliteRegistry) {}

  get(deviceId: string, req: string): RenewalRow | undefined {
    return this.registry.read((db) => select(db, 'WHERE device_id = ? AND req_id = ?', [deviceId, req]))[0];
  }

  /** Rows of one device, newest first. */
  forDevice(deviceId: string): RenewalRow[] {
    return this.registry.read((db) => select(db, 'WHERE device_id = ? ORDER BY created_at DESC, req_id DESC', [deviceId]));
  }

  inState(...states: RenewalState[]): RenewalRow[] {
    return this.registry.read((db) => select(db, `WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY created_at, device_id`, states));
  }

  /** The newest row of every device (for `devices expiring`). */
  latestByDevice(): Map<string, RenewalRow> {
    const out = new Map<string, RenewalRow>();
    for (const r of this.registry.read((db) => select(db, 'ORDER BY created_at, req_id', []))) out.set(r.deviceId, r);
    return out;
  }

  /** Inserts or replaces the row; durable when it resolves. */
  async put(row: RenewalRow): Promise<void> {
    await this.registry.write((db) => {
      db.run(
        `INSERT INTO renewals (${COLUMNS.map((c) => c[0]).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
         ON CONFLICT (device_id, req_id) DO UPDATE SET ${COLUMNS.slice(2).map((c) => `${c[0]} = excluded.${c[0]}`).join(', ')}`,
        COLUMNS.map(([, k]) => row[k] as SqlValue),
      );
    });
  }
}
