// `espfleet devices list`: one line per board in the registry, optionally by status.
import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import type { DeviceRecord, DeviceStatus } from '../../../station/records.ts';
import { DEVICE_STATUSES } from '../../../station/registry-sqlite.ts';
import { openRegistryFromOptions, registryOptions, type RegistryCliOptions } from './registry-option.ts';

interface Options extends RegistryCliOptions {
  status?: DeviceStatus;
}

function statusArg(text: string): DeviceStatus {
  if (!(DEVICE_STATUSES as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`expected one of ${DEVICE_STATUSES.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as DeviceStatus;
}

const HEADERS = ['DEVICE ID', 'MAC', 'STATUS', 'FIRMWARE', 'ENCRYPTION', 'CERT EXPIRY', 'UPDATED'] as const;

function row(r: DeviceRecord): string[] {
  return [r.deviceId, r.mac, r.status, r.firmwareVersion ?? '-', r.encryptionMode, r.certNotAfter ?? '-', r.updatedAt];
}

export { renderTable };

export function register(devices: Command, ctx: CliContext): void {
  registryOptions(devices.command('list'))
    .description('list boards in the registry: device id, MAC, status, firmware, encryption, certificate expiry, last update')
    .option('--status <status>', `only boards with this status (${DEVICE_STATUSES.join(', ')})`, statusArg)
    .option('--json', 'print the records as JSON')
    .addHelpText(
      'after',
      `
The registry comes from --registry, else paths.registry in the station config
(--station, else $ESPFLEET_STATION, else ./station.toml). It is opened read-only.

Examples:
  espfleet devices list --station /srv/line1/station.toml
  espfleet devices list --registry registry.sqlite --status failed
  espfleet devices list --status provisioned --json`,
    )
    .action(async (opts: Options) => {
      const registry = await openRegistryFromOptions(ctx, opts);
      try {
        const records = await registry.list(opts.status === undefined ? {} : { status: opts.status });
        if (opts.json) return ctx.json(records);
        if (records.length === 0) return ctx.out(opts.status === undefined ? 'no devices' : `no ${opts.status} devices`);
        for (const line of renderTable(HEADERS, records.map(row))) ctx.out(line);
      } finally {
        await registry.close();
      }
    });
}
