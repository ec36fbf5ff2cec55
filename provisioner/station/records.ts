// What the factory pipeline records about a board, and the two stores it records into:
// the registry (current state per device, queried by `espfleet devices`) and the
// append-only, hash-chained audit log (DESIGN.md security invariant 6). The pipeline
// depends only on these interfaces; embedded implementations live beside them and a
// shared database can implement DeviceRegistry later.

export type DeviceStatus = 'provisioning' | 'provisioned' | 'failed' | 'revoked';
export type EncryptionModeRecord = 'off' | 'development' | 'release';

export interface DeviceRecord {
  deviceId: string;
  /** Lower-case, colon-separated, e.g. 24:0a:c4:12:34:56. */
  mac: string;
  chipRevision: string;
  certSerial: string | null;
  certFingerprintSha256: string | null;
  certNotAfter: string | null;
  firmwareVersion: string | null;
  encryptionMode: EncryptionModeRecord;
  /** Where the board's flash-encryption key is escrowed (keystore path + record), or null. */
  keystoreRef: string | null;
  station: string;
  operator: string;
  status: DeviceStatus;
  /** Why the last attempt failed, when status is 'failed'. */
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The record once the device holds a new certificate (renewal, USB rotation): same device, new certificate facts. */
export function withCertificate(record: DeviceRecord, cert: { serialHex: string; fingerprintSha256: string | null; notAfter: string | null }, at: string): DeviceRecord {
  return { ...record, certSerial: cert.serialHex, certFingerprintSha256: cert.fingerprintSha256, certNotAfter: cert.notAfter, updatedAt: at };
}

export interface DeviceRegistry {
  /** Inserts or replaces the record for record.deviceId; durable when it resolves. */
  upsert(record: DeviceRecord): Promise<void>;
  get(deviceId: string): Promise<DeviceRecord | undefined>;
  findByMac(mac: string): Promise<DeviceRecord | undefined>;
  list(filter?: { status?: DeviceStatus; station?: string }): Promise<DeviceRecord[]>;
  close(): Promise<void>;
}

export type AuditAction =
  | 'provision.start'
  | 'provision.identity'
  | 'provision.escrow'
  | 'provision.efuse'
  | 'provision.flash'
  | 'provision.done'
  | 'provision.failed'
  | 'reprovision'
  | 'certificate.revoke'
  | 'certificate.rotate'
  | 'certificate.renew'
  | 'certificate.renew_refused'
  | 'ca.rollover.start'
  | 'ca.rollover.retire'
  | 'keystore.export'
  | 'rollout'
  | 'rollout.start'
  | 'rollout.command'
  | 'rollout.wave'
  | 'rollout.pause'
  | 'rollout.resume'
  | 'rollout.abort'
  | 'rollout.done'
  | 'backup.create'
  | 'backup.restore';

export interface AuditEntry {
  /** 0, 1, 2 … in file order. */
  seq: number;
  at: string;
  action: AuditAction;
  actor: string;
  /** Device id, MAC, serial … whatever the action is about. Never secrets. */
  subject: Record<string, string>;
  details?: Record<string, unknown>;
  /** sha256 hex of the previous entry's line ("0"×64 for the first). */
  prev: string;
  /** sha256 hex over this entry without `hash` (canonical JSON). */
  hash: string;
}

/** Where the audit chain stands, kept outside the log (in the registry) so truncation shows. */
export interface AuditAnchor {
  /** sha256 hex of the log's first line: which chain this is. */
  chain: string;
  /** Entries in the log. */
  entries: number;
  /** sha256 hex of the last line. */
  last: string;
}

export interface AuditAnchorStore {
  auditAnchor(): Promise<AuditAnchor | undefined>;
  /** Records the anchor durably; never moves it back to fewer entries of the same chain. */
  recordAuditAnchor(anchor: AuditAnchor): Promise<void>;
}

export interface AuditLog {
  /** Appends one entry durably (fsync) and returns it. */
  append(entry: Pick<AuditEntry, 'action' | 'actor' | 'subject'> & { details?: Record<string, unknown> }): Promise<AuditEntry>;
}
