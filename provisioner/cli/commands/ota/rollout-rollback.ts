// `espfleet ota rollout rollback --id R --bundle previous.zip --url …`: a new rollout that
// takes the boards R committed back to the previous bundle (allow_downgrade set), recorded
// and audited as a rollback of R, and driven like `start`. R, if still going, is aborted first.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { connectBrokerClient } from '../../broker-client.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { FleetWatch, mqttBus } from '../../../fleet/fleet-watch.ts';
import { checkRolloutId } from '../../../fleet/ota-messages.ts';
import { createRolloutFromFleet } from '../../../fleet/rollout-create.ts';
import type { RolloutState } from '../../../fleet/rollout-plan.ts';
import { parsePolicy, type PolicyText } from '../../../fleet/rollout-policy.ts';
import { loadRollout, updateRollout } from '../../../fleet/rollout-store.ts';
import { actorFrom, driveFromCli, openStores, trustFromStation, type DriveCliOptions } from './rollout-common.ts';
import { checkedBundle, describePlan, driveOptions } from './rollout-start.ts';

interface Options extends DriveCliOptions, PolicyText {
  id: string;
  newId?: string;
  bundle: string;
  url: string;
  commitTimeout?: number;
}

export function register(rollout: Command, ctx: CliContext): void {
  driveOptions(
    rollout
      .command('rollback')
      .description('roll back: a new rollout of the previous bundle to the boards a rollout committed (downgrade allowed), driven until done or aborted')
      .requiredOption('--id <rollout>', 'the rollout to roll back')
      .option('--new-id <rollout>', 'the id of the rollback rollout (default <id>-rollback)'),
  )
    .addHelpText(
      'after',
      `
Targets exactly the boards that rollout --id committed, in waves and at the rate of the
policy flags (as for start); --allow-downgrade is implied. A rollout still running or
paused is aborted first (audited). Exit statuses as for \`ota rollout start\`.

Examples:
  espfleet ota rollout rollback --station station.toml --id r-20261202-104500 --bundle fw-1.2.0.zip \\
    --url https://ota.example.com:8443/fw-1.2.0.zip --waves 100% \\
    --broker mqtts://mqtt.example.net:8883 --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem`,
    )
    .action(async (opts: Options) => {
      const policy = parsePolicy({ ...opts, allowDowngrade: true });
      const newId = checkRolloutId(opts.newId ?? `${opts.id}-rollback`);
      const bundle = checkedBundle(ctx, opts);
      const actor = actorFrom(ctx, opts.clientCert);
      const stores = await openStores(ctx, opts);
      try {
        const of = await loadRollout(stores.registry, opts.id);
        if (!of) throw new FleetError('fleet.rollout.not_found', `no rollout ${opts.id} in the registry ${stores.registry.path}`, { hint: 'list them with `espfleet ota rollout status`' });
        const committed = new Set(Object.values(of.state.boards).filter((b) => b.status === 'committed').map((b) => b.id));
        if (committed.size === 0) throw new FleetError('fleet.rollout.no_boards', `rollout ${opts.id} committed no board: nothing to roll back`, { hint: 'see it with `espfleet ota rollout status --id`' });
        const client = await connectBrokerClient(ctx, opts);
        let watch: FleetWatch;
        try {
          watch = await FleetWatch.open(mqttBus(client));
          const now = new Date();
          const records = (await stores.registry.list()).filter((r) => committed.has(r.deviceId));
          const { plan } = await createRolloutFromFleet({
            registry: stores.registry,
            audit: stores.audit,
            id: newId,
            actor,
            bundle,
            url: opts.url,
            select: `rollback of ${opts.id}`,
            records,
            facts: watch.boards,
            policy,
            ...(opts.commitTimeout !== undefined ? { commitTimeout: opts.commitTimeout } : {}),
            ...((t) => (t ? { trust: t } : {}))(await trustFromStation(ctx, opts, bundle.path, stores.registry)),
            rollbackOf: opts.id,
            now,
          });
          const reason = `rolled back by ${actor} as ${newId}`;
          const { before, changed } = await updateRollout(stores.registry, opts.id, now, (rec): RolloutState | undefined =>
            rec.state.status === 'running' || rec.state.status === 'paused' ? { ...rec.state, status: 'aborted', abortReason: reason } : undefined,
          );
          if (changed) await stores.audit.append({ action: 'rollout.abort', actor, subject: { rollout: opts.id }, details: { step: 'rollback', was: before.state.status, reason, rollback: newId } });
          if (!opts.quiet) ctx.note(`${describePlan(newId, bundle, plan, records.length)}; rollback of ${opts.id}`);
        } catch (e) {
          await client.endAsync().catch(() => undefined);
          throw e;
        }
        await driveFromCli(ctx, opts, stores, newId, actor, { client, watch });
      } finally {
        await stores.close();
      }
    });
}
