// Shared by the `devices` subcommands: open the registry named by --registry or the
// station config, read-only (listing never creates or rewrites the file).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { openRegistryAt, type Registry } from '../../../station/open-registry.ts';
import { resolveRegistry, stationOption } from './station-paths.ts';

export interface RegistryCliOptions {
  station?: string;
  registry?: string;
  json?: boolean;
}

export function registryOptions(cmd: Command): Command {
  return stationOption(cmd).option('--registry <path|url>', 'registry file or postgres:// URL (else $ESPFLEET_REGISTRY, else paths.registry from the station config)');
}

export async function openRegistryFromOptions(ctx: CliContext, opts: RegistryCliOptions): Promise<Registry> {
  return openRegistryAt(resolveRegistry(ctx, opts), { readOnly: true });
}
