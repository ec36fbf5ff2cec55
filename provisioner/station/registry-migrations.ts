// The registry's schema history: ordered, numbered migrations applied once each and
// recorded in `schema_version`, so an old registry file upgrades in place and a file
// from a newer espfleet is refused rather than misread.
import type { Database } from 'sql.js';

export interface Migration {
  version: number;
  description: string;
  up(db: Database): void;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'devices table with one row per DeviceRecord',
    up(db) {
      db.run(`
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
    up(db) {
      db.run('CREATE INDEX devices_status ON devices (status, station)');
    },
  },
  {
    version: 3,
    description: 'audit_anchor: where the audit log chain stands, so its truncation is found',
    up(db) {
      db.run(`
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
];

/** The newest schema this code knows. */
export const LATEST_SCHEMA_VERSION = migrations.reduce((max, m) => Math.max(max, m.version), 0);
