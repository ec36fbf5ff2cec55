// The registry's schema history: ordered, numbered migrations applied once each and
// recorded in `schema_version`, so an old registry file upgrades in place and a file
// from a newer espfleet is refused rather than misread. Both backends (the SQLite file,
// PostgreSQL) run the same migrations: `up` gets the open transaction and writes the
// portable subset of SQL (station/sql-port.ts); `db.run(sql)` takes several statements.
import type { SqlQueries } from './sql-port.ts';

export interface Migration {
  version: number;
  description: string;
  /** Runs inside the migration's transaction; return (or await) every statement's promise. */
  up(db: SqlQueries): Promise<void> | void;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'devices table with one row per DeviceRecord',
    async up(db) {
      await db.run(`
        CREATE TABLE devices (
          device_id               TEXT NOT NULL,
          mac                     TEXT NOT NULL,
          chip_revision           TEXT NOT NULL,
          cert_serial             TEXT,
          cert_fingerprint_sha256 TEXT,
          cert_not_after          TEXT,
          firmware_version        TEXT,
          encryption_mode         TEXT NOT NULL,
          keystore_ref            TEXT,
          station                 TEXT NOT NULL,
          operator                TEXT NOT NULL,
          status                  TEXT NOT NULL,
          reason                  TEXT,
          created_at              TEXT NOT NULL,
          updated_at              TEXT NOT NULL
        );
        CREATE UNIQUE INDEX devices_device_id ON devices (device_id);
        CREATE UNIQUE INDEX devices_mac ON devices (mac);
      `);
    },
  },
  {
    version: 2,
    description: 'index for `devices list --status`',
    async up(db) {
      await db.run('CREATE INDEX devices_status ON devices (status, station)');
    },
  },
  {
    version: 3,
    description: 'audit_anchor: where the audit log chain stands, so its truncation is found',
    async up(db) {
      await db.run(`
        CREATE TABLE audit_anchor (
          id         INTEGER PRIMARY KEY CHECK (id = 1),
          chain      TEXT NOT NULL,
          entries    INTEGER NOT NULL,
          last       TEXT NOT NULL,
          updated_at TEXT NOT NULL
        )
      `);
    },
  },
  {
    version: 4,
    description: 'rollouts and rollout_boards: OTA rollout state, so a killed `ota rollout start` resumes where it was',
    async up(db) {
      await db.run(`
        CREATE TABLE rollouts (
          rollout_id   TEXT PRIMARY KEY,
          status       TEXT NOT NULL,
          wave         INTEGER NOT NULL,
          wave_count   INTEGER NOT NULL,
          -- JSON: bundle (path, version, sha256, signedBy), url, policy, wave start/pass times, abort reason
          spec_json    TEXT NOT NULL,
          waves_json   TEXT NOT NULL,
          abort_reason TEXT,
          actor        TEXT NOT NULL,
          created_at   TEXT NOT NULL,
          updated_at   TEXT NOT NULL
        );
        CREATE TABLE rollout_boards (
          rollout_id   TEXT NOT NULL REFERENCES rollouts (rollout_id),
          device_id    TEXT NOT NULL,
          wave         INTEGER NOT NULL,
          status       TEXT NOT NULL,
          commanded_at BIGINT,
          updated_at   BIGINT,
          PRIMARY KEY (rollout_id, device_id)
        );
      `);
    },
  },
  {
    version: 5,
    description: 'renewals: the renewal service journal (a certificate on record before it is published, so a killed `ca renewd` never signs one request twice)',
    async up(db) {
      await db.run(`
        CREATE TABLE renewals (
          device_id   TEXT NOT NULL,
          req_id      TEXT NOT NULL,
          state       TEXT NOT NULL,
          csr_sha256  TEXT NOT NULL,
          spki_sha256 TEXT,
          old_serial  TEXT,
          serial      TEXT,
          not_after   TEXT,
          cert_pem    TEXT,
          error_code  TEXT,
          error       TEXT,
          created_at  TEXT NOT NULL,
          updated_at  TEXT NOT NULL,
          PRIMARY KEY (device_id, req_id)
        );
        CREATE INDEX renewals_state ON renewals (state, device_id);
      `);
    },
  },
  {
    version: 6,
    description: 'audit_entries (the audit chain of a registry on PostgreSQL) and device_claims (one holder per board for renewal vs rotation)',
    async up(db) {
      await db.run(`
        CREATE TABLE audit_entries (
          seq        INTEGER PRIMARY KEY,
          line       TEXT NOT NULL,
          -- set by the appender: a retried append after a lost reply finds its entry instead of adding a second one
          append_key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE device_claims (
          device_id  TEXT PRIMARY KEY,
          holder     TEXT NOT NULL,
          purpose    TEXT NOT NULL,
          taken_at   TEXT NOT NULL,
          expires_at TEXT NOT NULL
        );
      `);
    },
  },
  {
    version: 7,
    description: 'signing-key rotations and each board\'s reported update.key0..7 / sig_req_mask (provisioner/fleet/signing-key-store.ts)',
    async up(db) {
      await db.run(`
        CREATE TABLE signing_key_rotations (
          rotation_id TEXT PRIMARY KEY,
          status      TEXT NOT NULL,
          step        INTEGER NOT NULL,
          -- JSON: old and new slot, public key and fingerprint; the --select text
          spec_json   TEXT NOT NULL,
          actor       TEXT NOT NULL,
          created_at  TEXT NOT NULL,
          updated_at  TEXT NOT NULL
        );
        CREATE TABLE signing_key_rotation_boards (
          rotation_id  TEXT NOT NULL REFERENCES signing_key_rotations (rotation_id),
          device_id    TEXT NOT NULL,
          step         INTEGER,
          cmd_id       TEXT,
          seq          INTEGER,
          commanded_at TEXT,
          PRIMARY KEY (rotation_id, device_id)
        );
        CREATE TABLE board_signing_keys (
          device_id         TEXT PRIMARY KEY,
          seq               INTEGER NOT NULL,
          mask              INTEGER NOT NULL,
          -- JSON: 8 slots, SHA-256 hex of each key's SPKI or ""
          fingerprints_json TEXT NOT NULL,
          reported_at       TEXT NOT NULL
        );
      `);
    },
  },
];

/** The newest schema this code knows. */
export const LATEST_SCHEMA_VERSION = migrations.reduce((max, m) => Math.max(max, m.version), 0);
