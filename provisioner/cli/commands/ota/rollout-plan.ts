// `espfleet ota rollout plan`: the dry run of a rollout — which registry boards a bundle
// would go to, in which waves, and which are left out and why. Sends nothing, writes nothing.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { readBundleFacts, signedFor, trustedKeys, trustReason } from '../../../fleet/rollout-create.ts';
import { trustFromStation } from './rollout-common.ts';
import { parsePolicy, type PolicyText } from '../../../fleet/rollout-policy.ts';
import { planWaves } from '../../../fleet/rollout-waves.ts';
import { parseSelect } from '../../../fleet/select.ts';
import { openRegistryFromOptions, registryOptions, type RegistryCliOptions } from '../devices/registry-option.ts';

interface Options extends RegistryCliOptions, PolicyText {
  bundle: string;
  select: string;
}

/** The policy flags shared by `plan`, `start` and `rollback`. */
export function policyOptions(cmd: Command): Command {
  return cmd
    .option('--waves <list>', 'cumulative wave sizes, counts or percentages, the last 100% (default 1,10%,50%,100%)')
    .option('--rate <n/time>', 'at most this many boards commanded per time window, e.g. 50/min (default 50/min)')
    .option('--max-failures <n|p%>', 'abort once more than n boards, or p% of the finished ones, failed (default 2%)')
    .option('--min-sample <n>', 'judge a percentage only after this many boards finished (default 20)')
    .option('--device-timeout <duration>', 'a board that has not finished by then counts as failed, e.g. 15m (default 15m)')
    .option('--pause-between <duration|manual>', 'wait between waves, or manual: pause until resumed (default 0)')
    .option('--allow-downgrade', 'also target boards on a newer version than the bundle');
}

export function register(rollout: Command, ctx: CliContext): void {
  policyOptions(
    registryOptions(rollout.command('plan'))
      .description('dry run: the waves a bundle would go out in to the selected registry boards, and who is left out (sends nothing)')
      .requiredOption('--bundle <fw.zip>', 'the signed firmware bundle')
      .requiredOption('--select <filter>', 'the boards: all, or terms like status=provisioned,station=line1,id=esp32_0A*,version=1.0.0'),
  )
    .option('--json', 'print the plan as JSON')
    .addHelpText(
      'after',
      `
Boards already on the bundle's version are left out, as are boards on a newer one
(unless --allow-downgrade). An unsigned bundle is refused. Boards are put in waves in
device id order; the waves are fixed when a rollout starts. With a station config, its
boards are judged as they judge a bundle: update.key<i> = firmware.signing_keys[i] and
sig_req_mask = all of them (require_signatures) — a bundle they would refuse is refused.
\`ota rollout start\` with the same flags (and --url, broker flags) does it for real.

Examples:
  espfleet ota rollout plan --station station.toml --bundle fw-1.2.0.zip --select status=provisioned
  espfleet ota rollout plan --registry registry.sqlite --bundle fw.zip --select all --waves 5,25%,100% --json`,
    )
    .action(async (opts: Options) => {
      const policy = parsePolicy(opts);
      const select = parseSelect(opts.select);
      const facts = readBundleFacts(resolve(ctx.cwd, opts.bundle));
      const { path, version, signedBy, sha256, size } = facts;
      const registry = await openRegistryFromOptions(ctx, opts);
      let records;
      let trust;
      try {
        records = (await registry.list()).filter(select);
        trust = await trustFromStation(ctx, opts, path, registry);
      } finally {
        await registry.close();
      }
      const plan = planWaves(
        records.map((r) => ({ id: r.deviceId, online: true, ...(r.firmwareVersion !== null ? { version: r.firmwareVersion } : {}), ...trustedKeys(r, trust) })),
        { version, signedBy: signedFor(facts, trust) },
        policy,
      );
      if (plan.refusal !== undefined) {
        throw new FleetError('fleet.rollout.refused', `${path}: ${plan.refusal}${trustReason(trust)}`, { hint: 'sign it with `espfleet fw sign` (keys the boards hold in update.key0..7)' });
      }
      const targeted = plan.waves.reduce((n, w) => n + w.length, 0);
      if (opts.json) {
        return ctx.json({
          bundle: { path, version, sha256, size, signatures: signedBy },
          selected: records.length,
          targeted,
          policy,
          waves: plan.waves.map((boards, i) => ({ wave: i + 1, boards })),
          excluded: plan.excluded,
        });
      }
      ctx.out(`bundle ${path}: version ${version}, ${size} bytes, signatures ${signedBy.join(', ')}, sha256 ${sha256}`);
      ctx.out(`${records.length} boards selected, ${targeted} targeted in ${plan.waves.length} wave${plan.waves.length === 1 ? '' : 's'}, ${plan.excluded.length} left out`);
      const rate = `${policy.rate.count} per ${policy.rate.perMs / 1000} s`;
      ctx.out(`rate ${rate}; abort after more than ${policy.maxFailures.kind === 'count' ? `${policy.maxFailures.n} failures` : `${policy.maxFailures.p}% failures (judged after ${policy.minSample} boards)`}; device timeout ${policy.deviceTimeoutMs / 1000} s`);
      if (plan.waves.length > 0) {
        ctx.out('');
        let upTo = 0;
        const rows = plan.waves.map((w, i) => {
          upTo += w.length;
          return [String(i + 1), String(w.length), String(upTo), w.slice(0, 3).join(' ') + (w.length > 3 ? ` … (+${w.length - 3})` : '')];
        });
        for (const line of renderTable(['WAVE', 'BOARDS', 'UP TO', 'FIRST BOARDS'], rows)) ctx.out(line);
      }
      if (plan.excluded.length > 0) {
        ctx.out('');
        for (const line of renderTable(['LEFT OUT', 'REASON', 'DETAIL'], plan.excluded.map((e) => [e.id, e.reason, e.detail]))) ctx.out(line);
      }
    });
}
