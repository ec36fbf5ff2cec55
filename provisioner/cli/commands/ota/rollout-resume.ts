// `espfleet ota rollout resume --id R`: continues a rollout from the registry exactly where
// it was — after a pause, a manual pause between waves, or a killed `start` — and drives it
// (no board is commanded twice: the store refuses it; boards offline during their wave are
// commanded when they come back, until --device-timeout after the wave started).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { addProgressOptions } from '../../progress.ts';
import { brokerClientOptions } from '../../broker-client.ts';
import { resumeRollout } from '../../../fleet/rollout-control.ts';
import { actorFrom, driveFromCli, openStores, storeOptions, type DriveCliOptions } from './rollout-common.ts';

interface Options extends DriveCliOptions {
  id: string;
}

export function register(rollout: Command, ctx: CliContext): void {
  addProgressOptions(brokerClientOptions(storeOptions(rollout.command('resume'))))
    .description('continue a paused or interrupted rollout from the registry and drive it until done or aborted')
    .requiredOption('--id <rollout>', 'the rollout to continue')
    .option('--json', 'print the final rollout record as JSON')
    .addHelpText(
      'after',
      `
Exit statuses as for \`ota rollout start\`.

Examples:
  espfleet ota rollout resume --station station.toml --id r-20261202-104500 \\
    --broker mqtts://mqtt.example.net:8883 --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem`,
    )
    .action(async (opts: Options) => {
      const actor = actorFrom(ctx, opts.clientCert);
      const stores = await openStores(ctx, opts);
      try {
        await resumeRollout(stores, opts.id, actor);
        await driveFromCli(ctx, opts, stores, opts.id, actor);
      } finally {
        await stores.close();
      }
    });
}
