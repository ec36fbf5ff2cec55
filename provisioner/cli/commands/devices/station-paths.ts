// Where `devices` and `audit` commands find the registry and the audit log. Precedence
// (STYLE.md lesson 9): an explicit path flag, then --station, then $ESPFLEET_STATION,
// then ./station.toml; relative paths resolve against the command's working directory.
// The registry has one more source: --registry, then $ESPFLEET_REGISTRY, then the station's
// paths.registry (a path or a postgres:// URL).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { loadStationConfig, type StationConfig } from '../../../station/config.ts';
import { normalizeRegistryLocation } from '../../../station/open-registry.ts';

export const STATION_ENV = 'ESPFLEET_STATION';
export const REGISTRY_ENV = 'ESPFLEET_REGISTRY';

/** The config with paths.registry taken from --registry, else $ESPFLEET_REGISTRY, when given. */
export function withRegistryOverride(ctx: CliContext, cfg: StationConfig, explicit?: string): StationConfig {
  const given = explicit ?? (ctx.env[REGISTRY_ENV] === '' ? undefined : ctx.env[REGISTRY_ENV]);
  if (given === undefined) return cfg;
  return { ...cfg, paths: { ...cfg.paths, registry: normalizeRegistryLocation(given, ctx.cwd) } };
}

/** The registry in use: --registry, else $ESPFLEET_REGISTRY, else paths.registry of the station config. */
export function resolveRegistry(ctx: CliContext, opts: { station?: string; registry?: string }): string {
  if (opts.registry !== undefined) {
    if (opts.station !== undefined) throw new UsageError('cli.bad_argument', 'give --registry or --station, not both');
    return normalizeRegistryLocation(opts.registry, ctx.cwd);
  }
  const fromEnv = ctx.env[REGISTRY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return normalizeRegistryLocation(fromEnv, ctx.cwd);
  return resolveStationPath(ctx, opts, '--registry', (cfg) => cfg.paths.registry);
}

export function stationOption(cmd: Command): Command {
  return cmd.option('--station <station.toml>', `station config (else $${STATION_ENV}, else ./station.toml)`);
}

/** The station config named by --station, else $ESPFLEET_STATION, else ./station.toml, or undefined. */
export function findStation(ctx: CliContext, station: string | undefined): StationConfig | undefined {
  const load = (path: string) => withRegistryOverride(ctx, loadStationConfig(path));
  if (station !== undefined) return load(resolve(ctx.cwd, station));
  const fromEnv = ctx.env[STATION_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return load(resolve(ctx.cwd, fromEnv));
  const local = resolve(ctx.cwd, 'station.toml');
  return existsSync(local) ? load(local) : undefined;
}

/** The file named by `flag` (e.g. --registry), else the station config's `pick` path. */
export function resolveStationPath(
  ctx: CliContext,
  opts: { station?: string; explicit?: string },
  flag: string,
  pick: (cfg: StationConfig) => string,
): string {
  if (opts.explicit !== undefined) {
    if (opts.station !== undefined) throw new UsageError('cli.bad_argument', `give ${flag} or --station, not both`);
    return resolve(ctx.cwd, opts.explicit);
  }
  const cfg = findStation(ctx, opts.station);
  if (cfg === undefined) {
    throw new UsageError('cli.bad_argument', `no station config: give --station <station.toml> or ${flag} <path>`, {
      hint: `or set ${STATION_ENV}, or run in the directory that holds station.toml`,
    });
  }
  return pick(cfg);
}
