// Which registry a command uses and how it is opened: a postgres:// URL opens the shared
// PostgreSQL registry, anything else (a path, or `sqlite:PATH`) the embedded SQLite file.
// The location comes from --registry, else $ESPFLEET_REGISTRY, else paths.registry in
// station.toml (registryLocation).
import { isAbsolute, resolve } from 'node:path';
import type { Migration } from './registry-migrations.ts';
import { isPostgresUrl, openPostgresRegistry } from './registry-postgres.ts';
import type { SqlRegistry } from './registry-sql.ts';
import { openRegistry } from './registry-sqlite.ts';

/** A station's registry, on either backend. */
export type Registry = SqlRegistry;

export interface OpenRegistryAtOptions {
  readOnly?: boolean;
  migrations?: readonly Migration[];
  lockTimeoutMs?: number;
  /** PostgreSQL: how long a lost connection is retried (default 60 s). */
  retryForMs?: number;
}

export { isPostgresUrl };

/** `sqlite:PATH` → PATH; a URL stays as it is; a plain path resolves against `baseDir`. */
export function normalizeRegistryLocation(location: string, baseDir: string): string {
  if (isPostgresUrl(location)) return location;
  const path = location.replace(/^sqlite:(\/\/)?/i, '');
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

/** The registry in use: an explicit flag, else $ESPFLEET_REGISTRY, else the station's paths.registry. */
export function registryLocation(explicit: string | undefined, env: Record<string, string | undefined>, cwd: string, fromStation: () => string): string {
  if (explicit !== undefined && explicit !== '') return normalizeRegistryLocation(explicit, cwd);
  const fromEnv = env.ESPFLEET_REGISTRY;
  if (fromEnv !== undefined && fromEnv !== '') return normalizeRegistryLocation(fromEnv, cwd);
  return fromStation();
}

export async function openRegistryAt(location: string, opts: OpenRegistryAtOptions = {}): Promise<Registry> {
  if (isPostgresUrl(location)) {
    return openPostgresRegistry(location, {
      ...(opts.readOnly === undefined ? {} : { readOnly: opts.readOnly }),
      ...(opts.migrations === undefined ? {} : { migrations: opts.migrations }),
      ...(opts.retryForMs === undefined ? {} : { retryForMs: opts.retryForMs }),
    });
  }
  return openRegistry(location, {
    ...(opts.readOnly === undefined ? {} : { readOnly: opts.readOnly }),
    ...(opts.migrations === undefined ? {} : { migrations: opts.migrations }),
    ...(opts.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: opts.lockTimeoutMs }),
  });
}
