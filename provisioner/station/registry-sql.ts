// The device registry over the SQL port (sql-port.ts), shared by both backends: the
// embedded SQLite file (registry-sqlite.ts) and PostgreSQL (registry-postgres.ts). What a
// record is, how it is checked, the MAC/device-id uniqueness rule, the audit anchor, the
// per-board claims and the migration runner live here once; a backend supplies only
// `query`, `run` and `transaction`.
import { normalizeMac } from '../../firmware-js/device-id.ts';
import { EspfleetError } from '../../firmware-js/errors.ts';
import type { Migration } from './registry-migrations.ts';
import type { AuditAnchor, AuditAnchorStore, DeviceRecord, DeviceRegistry, DeviceStatus, EncryptionModeRecord } from './records.ts';
import { textOrNull, type SqlDialect, type SqlParam, type SqlPort, type SqlQueries, type SqlRow } from './sql-port.ts';

export class RegistryError extends EspfleetError {}

export const DEVICE_STATUSES: readonly DeviceStatus[] = ['provisioning', 'provisioned', 'failed', 'revoked'];
const ENCRYPTION_MODES: readonly EncryptionModeRecord[] = ['off', 'development', 'release'];
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** What a board is claimed for while one process changes its certificate. */
export type ClaimPurpose = 'renewal' | 'rotation';

export interface DeviceClaim {
  deviceId: string;
  holder: string;
  purpose: ClaimPurpose;
  takenAt: string;
  expiresAt: string;
}

export abstract class SqlRegistry implements DeviceRegistry, AuditAnchorStore, SqlPort {
  abstract readonly dialect: SqlDialect;
  /** The file, or the database URL with its password removed: for messages. */
  abstract readonly path: string;
  abstract readonly readOnly: boolean;
  abstract query(sql: string, params?: readonly SqlParam[]): Promise<SqlRow[]>;
  abstract run(sql: string, params?: readonly SqlParam[]): Promise<void>;
  abstract transaction<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;

  /** @internal Throws unless this handle may write. */
  writable(): void {
    if (this.readOnly) throw new RegistryError('station.registry.read_only', `registry ${this.path} was opened read-only`);
  }

  /** The schema version of the registry (after migrations). */
  async schemaVersion(): Promise<number> {
    return currentVersion(this);
  }

  /** Applied migrations, oldest first: proves each ran once. */
  async appliedMigrations(): Promise<Array<{ version: number; appliedAt: string }>> {
    return (await this.query('SELECT version, applied_at FROM schema_version ORDER BY version')).map((r) => ({ version: Number(r.version), appliedAt: String(r.applied_at) }));
  }

  async upsert(record: DeviceRecord): Promise<void> {
    this.writable();
    checkRecord(record);
    // The uniqueness check and the write in one transaction: two stations racing for one
    // MAC or one device id — one records it, the other is refused.
    await this.transaction(async (tx) => {
      const other = await findByMacIn(tx, record.mac);
      if (other && other.deviceId !== record.deviceId) {
        throw new RegistryError('station.registry.conflict', `MAC ${record.mac} is already registered as ${other.deviceId}, cannot record it as ${record.deviceId}`, {
          hint: 'a device id is derived from the MAC; check device.id_template, or revoke the old record first',
        });
      }
      const held = (await tx.query('SELECT mac FROM devices WHERE device_id = ?', [record.deviceId]))[0];
      if (held && String(held.mac) !== record.mac) {
        throw new RegistryError('station.registry.conflict', `device id ${record.deviceId} is already registered for MAC ${String(held.mac)}, cannot record it for ${record.mac}`, {
          hint: 'the device id template does not tell these boards apart; use {mac} or {mac6}',
        });
      }
      await writeRecord(tx, record);
    });
  }

  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    return (await this.query('SELECT * FROM devices WHERE device_id = ?', [deviceId])).map(toRecord)[0];
  }

  async findByMac(mac: string): Promise<DeviceRecord | undefined> {
    return findByMacIn(this, mac);
  }

  async list(filter: { status?: DeviceStatus; station?: string } = {}): Promise<DeviceRecord[]> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (filter.status !== undefined) (where.push('status = ?'), params.push(filter.status));
    if (filter.station !== undefined) (where.push('station = ?'), params.push(filter.station));
    const sql = `SELECT * FROM devices${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY device_id`;
    return (await this.query(sql, params)).map(toRecord);
  }

  async auditAnchor(): Promise<AuditAnchor | undefined> {
    return anchorIn(this);
  }

  async recordAuditAnchor(anchor: AuditAnchor): Promise<void> {
    this.writable();
    await this.transaction((tx) => recordAnchorIn(tx, anchor));
  }

  /**
   * Claims `deviceId` for `purpose` until `ttlMs` from now, or refuses with
   * station.registry.device_busy naming the live holder. The same holder may renew its claim.
   */
  async claimDevice(deviceId: string, holder: string, purpose: ClaimPurpose, ttlMs: number, now = new Date()): Promise<DeviceClaim> {
    this.writable();
    const claim: DeviceClaim = { deviceId, holder, purpose, takenAt: now.toISOString(), expiresAt: new Date(now.getTime() + ttlMs).toISOString() };
    await this.transaction(async (tx) => {
      const held = (await tx.query('SELECT * FROM device_claims WHERE device_id = ?', [deviceId])).map(toClaim)[0];
      if (held && held.holder !== holder && held.expiresAt > claim.takenAt) {
        throw new RegistryError('station.registry.device_busy', `device ${deviceId} is claimed for ${held.purpose} by ${held.holder} until ${held.expiresAt}; nothing was changed`, {
          hint: 'one process changes a board\'s certificate at a time; try again when it is done (or the claim expires)',
        });
      }
      await tx.run(
        `INSERT INTO device_claims (device_id, holder, purpose, taken_at, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET holder = excluded.holder, purpose = excluded.purpose, taken_at = excluded.taken_at, expires_at = excluded.expires_at`,
        [claim.deviceId, claim.holder, claim.purpose, claim.takenAt, claim.expiresAt],
      );
    });
    return claim;
  }

  /** Gives a claim back (only the holder's own; a missing claim is fine). */
  async releaseDevice(deviceId: string, holder: string): Promise<void> {
    this.writable();
    await this.transaction((tx) => tx.run('DELETE FROM device_claims WHERE device_id = ? AND holder = ?', [deviceId, holder]));
  }

  async deviceClaim(deviceId: string): Promise<DeviceClaim | undefined> {
    return (await this.query('SELECT * FROM device_claims WHERE device_id = ?', [deviceId])).map(toClaim)[0];
  }
}

function toClaim(r: SqlRow): DeviceClaim {
  return { deviceId: String(r.device_id), holder: String(r.holder), purpose: String(r.purpose) as ClaimPurpose, takenAt: String(r.taken_at), expiresAt: String(r.expires_at) };
}

export async function anchorIn(q: SqlQueries): Promise<AuditAnchor | undefined> {
  const r = (await q.query('SELECT chain, entries, last FROM audit_anchor WHERE id = 1'))[0];
  return r === undefined ? undefined : { chain: String(r.chain), entries: Number(r.entries), last: String(r.last) };
}

/** Records the anchor inside an open transaction; never moves it back on the same chain. */
export async function recordAnchorIn(tx: SqlQueries, anchor: AuditAnchor): Promise<void> {
  const now = await anchorIn(tx);
  // Two processes anchoring one log may finish out of order: never move back.
  if (now && now.chain === anchor.chain && now.entries >= anchor.entries) return;
  await tx.run(
    `INSERT INTO audit_anchor (id, chain, entries, last, updated_at) VALUES (1, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET chain = excluded.chain, entries = excluded.entries, last = excluded.last, updated_at = excluded.updated_at`,
    [anchor.chain, anchor.entries, anchor.last, new Date().toISOString()],
  );
}

async function findByMacIn(q: SqlQueries, mac: string): Promise<DeviceRecord | undefined> {
  const norm = normalizeMac(mac);
  if (norm === undefined) return undefined;
  return (await q.query('SELECT * FROM devices WHERE mac = ?', [norm])).map(toRecord)[0];
}

export async function writeRecord(tx: SqlQueries, record: DeviceRecord): Promise<void> {
  await tx.run(
    `INSERT INTO devices (${COLUMNS.map((c) => c[0]).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
     ON CONFLICT (device_id) DO UPDATE SET ${COLUMNS.filter((c) => c[0] !== 'device_id')
       .map((c) => `${c[0]} = excluded.${c[0]}`)
       .join(', ')}`,
    COLUMNS.map(([, key]) => record[key] as SqlParam),
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

export function toRecord(row: SqlRow): DeviceRecord {
  const out: Record<string, unknown> = {};
  for (const [column, key] of COLUMNS) out[key] = textOrNull(row[column]);
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

async function currentVersion(q: SqlQueries): Promise<number> {
  const v = (await q.query('SELECT MAX(version) AS v FROM schema_version'))[0]?.v;
  return v === null || v === undefined ? 0 : Number(v);
}

/**
 * Applies pending migrations in order, each once, each in its own savepoint; true when any
 * ran. `q` is the SQLite database in memory or an open PostgreSQL transaction. Refuses a
 * registry whose schema is newer than `list` knows.
 */
export async function applyMigrations(q: SqlQueries, list: readonly Migration[], where: string): Promise<boolean> {
  await q.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const known = Math.max(0, ...list.map((m) => m.version));
  const have = await currentVersion(q);
  if (have > known) {
    throw new RegistryError('station.registry.newer_schema', `registry ${where} has schema version ${have}, but this espfleet knows only up to ${known}`, {
      hint: 'a newer espfleet wrote this registry; upgrade espfleet to read it (it was not changed)',
    });
  }
  const pending = [...list].sort((a, b) => a.version - b.version).filter((m) => m.version > have);
  for (const m of pending) {
    const sp = `migration_${m.version}`;
    await q.run(`SAVEPOINT ${sp}`);
    try {
      await m.up(q);
      await q.run('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)', [m.version, new Date().toISOString()]);
      await q.run(`RELEASE SAVEPOINT ${sp}`);
    } catch (e) {
      await q.run(`ROLLBACK TO SAVEPOINT ${sp}`);
      await q.run(`RELEASE SAVEPOINT ${sp}`);
      throw new RegistryError('station.registry.migration_failed', `registry ${where}: migration ${m.version} (${m.description}) failed: ${(e as Error).message}`, { cause: e });
    }
  }
  return pending.length > 0;
}
