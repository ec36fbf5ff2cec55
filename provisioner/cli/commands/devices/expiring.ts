// `espfleet devices expiring`: boards whose certificate ends within --within, with the last
// renewal attempt (renewal/expiring.ts).
import type { Command } from 'commander';
import { expiringDevices, type ExpiringDevice } from '../../../renewal/expiring.ts';
import { durationArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import { openRegistryFromOptions, registryOptions, type RegistryCliOptions } from './registry-option.ts';

interface Options extends RegistryCliOptions {
  within: number;
}

const HEADERS = ['DEVICE ID', 'STATUS', 'CERT SERIAL', 'CERT EXPIRY', 'DAYS LEFT', 'LAST RENEWAL'] as const;

function lastRenewal(d: ExpiringDevice): string {
  const r = d.lastRenewal;
  if (!r) return '-';
  return `${r.state} ${r.at}${r.errorCode ? ` [${r.errorCode}]` : ''}`;
}

export function register(devices: Command, ctx: CliContext): void {
  registryOptions(devices.command('expiring'))
    .description('list boards whose certificate expires within a window, with their last renewal attempt')
    .option('--within <duration>', 'window from now: 30d, 12h, 90m (default 30d)', durationArg, durationArg('30d'))
    .option('--json', 'print the devices as JSON')
    .addHelpText(
      'after',
      `
Certificates already expired are listed too (DAYS LEFT below 0); revoked devices are
not. LAST RENEWAL is what \`espfleet ca renewd\` last did for the board (signed,
published, confirmed, superseded, or refused with its error code).

Examples:
  espfleet devices expiring --within 30d --station station.toml
  espfleet devices expiring --within 7d --registry registry.sqlite --json`,
    )
    .action(async (opts: Options) => {
      const registry = await openRegistryFromOptions(ctx, opts);
      let rows: ExpiringDevice[];
      try {
        rows = await expiringDevices(registry, opts.within);
      } finally {
        await registry.close();
      }
      if (opts.json) return ctx.json(rows);
      if (rows.length === 0) return ctx.out('no certificates expire in that window');
      for (const line of renderTable(HEADERS, rows.map((d) => [d.deviceId, d.status, d.certSerial ?? '-', d.certNotAfter, String(d.daysLeft), lastRenewal(d)]))) ctx.out(line);
    });
}
