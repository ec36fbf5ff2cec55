// The renewal service's journal, kept in the registry file (like fleet/rollout-store.ts):
// one row per (device, request id). A certificate is written here, durably, before the CA
// index records it and before it is published, so a killed `ca renewd` re-sends the same
// certificate for a re-sent request and never signs one request twice. The table is the
// registry's migration 5 (station/registry-migrations.ts).
import type { Registry } from '../station/open-registry.ts';
import { textOrNull, type SqlParam, type SqlQueries } from '../station/sql-port.ts';

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


async function select(db: SqlQueries, where: string, params: SqlParam[]): Promise<RenewalRow[]> {
  return (await db.query(`SELECT * FROM renewals ${where}`, params)).map((r) => {
    const row: Record<string, unknown> = {};
    for (const [c, k] of COLUMNS) row[k] = textOrNull(r[c]);
    return row as unknown as RenewalRow;
  });
}

export class RenewalJournal {
  constructor(private readonly registry: Registry) {}

  async get(deviceId: string, req: string): Promise<RenewalRow | undefined> {
    return (await select(this.registry, 'WHERE device_id = ? AND req_id = ?', [deviceId, req]))[0];
  }

  /** Rows of one device, newest first. */
  forDevice(deviceId: string): Promise<RenewalRow[]> {
    return select(this.registry, 'WHERE device_id = ? ORDER BY created_at DESC, req_id DESC', [deviceId]);
  }

  inState(...states: RenewalState[]): Promise<RenewalRow[]> {
    return select(this.registry, `WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY created_at, device_id`, states);
  }

  /** The newest row of every device (for `devices expiring`). */
  async latestByDevice(): Promise<Map<string, RenewalRow>> {
    const out = new Map<string, RenewalRow>();
    for (const r of await select(this.registry, 'ORDER BY created_at, req_id', [])) out.set(r.deviceId, r);
    return out;
  }

  /** Inserts or replaces the row; durable when it resolves. */
  async put(row: RenewalRow): Promise<void> {
    await this.registry.transaction(async (db) => {
      await db.run(
        `INSERT INTO renewals (${COLUMNS.map((c) => c[0]).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
         ON CONFLICT (device_id, req_id) DO UPDATE SET ${COLUMNS.slice(2).map((c) => `${c[0]} = excluded.${c[0]}`).join(', ')}`,
        COLUMNS.map(([, k]) => row[k] as SqlParam),
      );
    });
  }
}
