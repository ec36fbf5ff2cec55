// `espfleet ota rollout start`: creates a rollout in the registry (refusing a bundle the
// boards would not take) and drives it over MQTT until it is done, aborted or paused
// (fleet/rollout-driver.ts; the messages are docs/ota-protocol.md's).
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { addProgressOptions } from '../../progress.ts';
import { brokerClientOptions, connectBrokerClient } from '../../broker-client.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { FleetWatch, mqttBus } from '../../../fleet/fleet-watch.ts';
import { checkCommandSpec, checkRolloutId } from '../../../fleet/ota-messages.ts';
import { createRolloutFromFleet, defaultRolloutId, readBundleFacts, type BundleFacts } from '../../../fleet/rollout-create.ts';
import { parsePolicy, type PolicyText } from '../../../fleet/rollout-policy.ts';
import type { WavePlan } from '../../../fleet/rollout-waves.ts';
import { parseSelect } from '../../../fleet/select.ts';
import { actorFrom, driveFromCli, openStores, storeOptions, trustFromStation, type DriveCliOptions } from './rollout-common.ts';
import { policyOptions } from './rollout-plan.ts';

interface Options extends DriveCliOptions, PolicyText {
  bundle: string;
  url: string;
  select: string;
  id?: string;
  commitTimeout?: number;
}

export function commitTimeoutArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 30 || n > 3600) throw new InvalidArgumentError('a whole number of seconds in 30..3600 (and more than espfleet.ota.health_timeout on the boards)');
  return n;
}

/** The options `start` and `rollback` share: the bundle, where boards fetch it, the command, the broker, the stores. */
export function driveOptions(cmd: Command): Command {
  return addProgressOptions(
    brokerClientOptions(
      storeOptions(
        policyOptions(
          cmd
            .requiredOption('--bundle <fw.zip>', 'the signed firmware bundle (its version, SHA-256 and signatures go into the command)')
            .requiredOption('--url <https://…>', 'where the boards fetch that bundle (ota serve); its host must be in espfleet.ota.allowed_hosts')
            .option('--commit-timeout <s>', "seconds the new firmware has to commit before the board reverts (30..3600; default the board's espfleet.ota.commit_timeout)", commitTimeoutArg),
        ),
      ),
    ),
  ).option('--json', 'print the final rollout record as JSON');
}

/** The bundle read and checked before anything connects or is written. */
export function checkedBundle(ctx: CliContext, opts: { bundle: string; url: string; commitTimeout?: number }): BundleFacts {
  const bundle = readBundleFacts(resolve(ctx.cwd, opts.bundle));
  if (bundle.signedBy.length === 0) {
    throw new FleetError('fleet.rollout.refused', `${bundle.path}: the bundle is not signed; boards with update.sig_req_mask set refuse it`, { hint: 'sign it with `espfleet fw sign` (keys the boards hold in update.key0..7)' });
  }
  checkCommandSpec({ url: opts.url, version: bundle.version, ...(opts.commitTimeout !== undefined ? { commitTimeout: opts.commitTimeout } : {}) });
  return bundle;
}

export function describePlan(id: string, bundle: BundleFacts, plan: WavePlan, selected: number): string {
  const targeted = plan.waves.reduce((n, w) => n + w.length, 0);
  return `rollout ${id}: ${bundle.version} to ${targeted} of ${selected} selected boards in ${plan.waves.length} wave${plan.waves.length === 1 ? '' : 's'} (${plan.waves.map((w) => w.length).join(', ')})${plan.excluded.length > 0 ? `, ${plan.excluded.length} left out` : ''}`;
}

export function register(rollout: Command, ctx: CliContext): void {
  driveOptions(
    rollout
      .command('start')
      .description('start a rollout: record it in the registry and command the selected boards over MQTT, wave by wave, until done or aborted')
      .requiredOption('--select <filter>', 'the boards: all, or terms like status=provisioned,station=line1,id=esp32_0A*,version=1.0.0')
      .option('--id <rollout>', 'the rollout id (1..60 of A-Z a-z 0-9 - _ . :; default r-<UTC time>)'),
  )
    .addHelpText(
      'after',
      `
The bundle is refused when it is unsigned or when targeted boards would not accept its
signature; the boards' versions come from their retained status on the broker (else the
registry). Every step is saved to the registry and audited (actor: the --client-cert CN)
before a command is sent, so a killed start is continued by \`ota rollout resume\` without
commanding any board twice. Progress goes to stderr; at the end a summary (or with --json
the rollout record) on stdout. Exit status 0 when every board committed (or the rollout
paused), 1 when it aborted or a board did not commit, 130 on Ctrl-C.

Examples:
  espfleet ota rollout start --station station.toml --bundle fw-1.3.0.zip --url https://ota.example.com:8443/fw-1.3.0.zip \\
    --select status=provisioned --waves 1,10%,50%,100% --rate 50/min --max-failures 2% --device-timeout 15m \\
    --broker mqtts://mqtt.example.net:8883 --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem`,
    )
    .action(async (opts: Options) => {
      const policy = parsePolicy(opts);
      const select = parseSelect(opts.select);
      const now = new Date();
      const id = checkRolloutId(opts.id ?? defaultRolloutId(now));
      const bundle = checkedBundle(ctx, opts);
      const actor = actorFrom(ctx, opts.clientCert);
      const stores = await openStores(ctx, opts);
      try {
        const client = await connectBrokerClient(ctx, opts);
        let watch: FleetWatch;
        try {
          watch = await FleetWatch.open(mqttBus(client));
          const records = (await stores.registry.list()).filter(select);
          const { plan } = await createRolloutFromFleet({
            registry: stores.registry,
            audit: stores.audit,
            id,
            actor,
            bundle,
            url: opts.url,
            select: opts.select,
            records,
            facts: watch.boards,
            policy,
            ...(opts.commitTimeout !== undefined ? { commitTimeout: opts.commitTimeout } : {}),
            ...((t) => (t ? { trust: t } : {}))(await trustFromStation(ctx, opts, bundle.path, stores.registry)),
            now,
          });
          if (!opts.quiet) ctx.note(describePlan(id, bundle, plan, records.length));
        } catch (e) {
          await client.endAsync().catch(() => undefined);
          throw e;
        }
        await driveFromCli(ctx, opts, stores, id, actor, { client, watch });
      } finally {
        await stores.close();
      }
    });
}
