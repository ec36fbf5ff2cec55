// `espfleet devices show`: everything the registry holds about one board, by id or MAC.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import type { DeviceRecord } from '../../../station/records.ts';
import { RegistryError, normalizeMac } from '../../../station/registry-sqlite.ts';
import { openRegistryFromOptions, registryOptions, type RegistryCliOptions } from './registry-option.ts';

const FIELDS: ReadonlyArray<readonly [string, keyof DeviceRecord]> = [
  ['device id', 'deviceId'],
  ['mac', 'mac'],
  ['status', 'status'],
  ['reason', 'reason'],
  ['chip revision', 'chipRevision'],
  ['firmware', 'firmwareVersion'],
  ['encryption', 'encryptionMode'],
  ['keystore ref', 'keystoreRef'],
  ['cert serial', 'certSerial'],
  ['cert sha256', 'certFingerprintSha256'],
  ['cert expiry', 'certNotAfter'],
  ['station', 'station'],
  ['operator', 'operator'],
  ['created', 'createdAt'],
  ['updated', 'updatedAt'],
];

export function register(devices: Command, ctx: CliContext): void {
  registryOptions(devices.command('show'))
    .description('show one board\'s registry record, by device id or MAC')
    .argument('<device-id|mac>', 'device id (esp32_123456) or MAC in any notation (24:0a:c4:12:34:56, 240AC4123456)')
    .option('--json', 'print the record as JSON')
    .addHelpText(
      'after',
      `
A MAC may be written with colons, dashes or no separators, in either case.

Examples:
  espfleet devices show esp32_123456 --station station.toml
  espfleet devices show 24:0a:c4:12:34:56 --registry registry.sqlite --json`,
    )
    .action(async (key: string, opts: RegistryCliOptions) => {
      const registry = await openRegistryFromOptions(ctx, opts);
      let record: DeviceRecord | undefined;
      try {
        record = (await registry.get(key)) ?? (normalizeMac(key) === undefined ? undefined : await registry.findByMac(key));
      } finally {
        await registry.close();
      }
      if (record === undefined) {
        throw new RegistryError('station.registry.no_device', `no device ${JSON.stringify(key)} in ${registry.path}`, {
          hint: 'run `espfleet devices list` to see the recorded device ids and MACs',
        });
      }
      if (opts.json) return ctx.json(record);
      for (const [label, key2] of FIELDS) ctx.out(`${`${label}:`.padEnd(15)}${record[key2] ?? '-'}`);
    });
}
