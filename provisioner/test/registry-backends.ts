// The registry suite runs on both backends (describe.each(registryBackends())): the
// embedded SQLite file and PostgreSQL on a throw-away cluster (postgres-cluster.ts) that
// the first PostgreSQL test of a file starts and afterAll stops. Each `fresh()` is a new,
// empty registry: a temporary file, or a new database. Without initdb the PostgreSQL half
// is skipped locally and fails under CI=true (oracleAvailable).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { oracleAvailable } from '../../scripts/lib/oracles.ts';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.ts';

export interface RegistryBackend {
  name: 'sqlite' | 'postgres';
  /** False: the backend's oracle is missing here (never under CI, which fails instead). */
  available: boolean;
  /** A new, empty registry location: a file path or a postgres:// URL. */
  fresh(): Promise<string>;
}

let cluster: Promise<PostgresCluster> | undefined;
let databases = 0;

/** The file's PostgreSQL cluster, started on first use. */
export function postgresCluster(): Promise<PostgresCluster> {
  cluster ??= startPostgresCluster();
  return cluster;
}

/** Both backends; registers the cluster's stop for the calling test file. */
export function registryBackends(): RegistryBackend[] {
  afterAll(async () => {
    if (cluster) (await cluster).stop();
    cluster = undefined;
  });
  return [
    { name: 'sqlite', available: true, fresh: async () => join(mkdtempSync(join(tmpdir(), 'espfleet-registry-')), 'registry.sqlite') },
    { name: 'postgres', available: oracleAvailable('initdb'), fresh: async () => (await postgresCluster()).createDatabase(`registry_${process.pid}_${++databases}`) },
  ];
}
