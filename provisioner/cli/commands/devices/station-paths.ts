// Where `devices` and `audit` commands find the registry and the audit log. Precedence
// (STYLE.md lesson 9): an explicit path flag, then --station, then $ESPFLEET_STATION,
// then ./station.toml; relative paths resolve against the command's working directory.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { loadStationConfig, type StationConfig } from '../../../station/config.ts';

export const STATION_ENV = 'ESPFLEET_STATION';

export function stationOption(cmd: Command): Command {
  return cmd.option('--station <station.toml>', `station config (else $${STATION_ENV}, else ./station.toml)`);
}

/** The station config named by --station, else $ESPFLEET_STATION, else ./station.toml, or undefined. */
export function findStation(ctx: CliContext, station: string | undefined): StationConfig | undefined {
  if (station !== undefined) return loadStationConfig(resolve(ctx.cwd, station));
  const fromEnv = ctx.env[STATION_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return loadStationConfig(resolve(ctx.cwd, fromEnv));
  const local = resolve(ctx.cwd, 'station.toml');
  return existsSync(local) ? loadStationConfig(local) : undefined;
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
