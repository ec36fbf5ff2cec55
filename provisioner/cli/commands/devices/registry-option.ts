// Shared by the `devices` subcommands: open the registry named by --registry or the
// station config, read-only (listing never creates or rewrites the file).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { openRegistry, type SqliteRegistry } from '../../../station/registry-sqlite.ts';
import { resolveStationPath, stationOption } from './station-paths.ts';

export interface RegistryCliOptions {
  station?: string;
  registry?: string;
  json?: boolean;
}

export function registryOptions(cmd: Command): Command {
  return stationOption(cmd).option('--registry <path>', 'registry file (instead of paths.registry from the station config)');
}

export async function openRegistryFromOptions(ctx: CliContext, opts: RegistryCliOptions): Promise<SqliteRegistry> {
  const path = resolveStationPath(ctx, { station: opts.station, explicit: opts.registry }, '--registry', (cfg) => cfg.paths.registry);
  return openRegistry(path, { readOnly: true });
}
