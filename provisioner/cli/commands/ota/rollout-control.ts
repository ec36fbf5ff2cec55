// `espfleet ota rollout pause|abort --id R`: the operator's word, written to the registry
// (and audited with the actor) by fleet/rollout-control.ts — the same call as the dashboard's
// buttons; a driving `start`/`resume` sees it at its next step. Boards already commanded
// finish their update either way (an update in progress is not stopped).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { controlRollout } from '../../../fleet/rollout-control.ts';
import { actorFrom, openStores, storeOptions, type StoreCliOptions } from './rollout-common.ts';

interface Options extends StoreCliOptions {
  id: string;
  clientCert?: string;
  reason?: string;
}

function control(rollout: Command, name: 'pause' | 'abort', description: string): Command {
  return storeOptions(rollout.command(name))
    .description(description)
    .requiredOption('--id <rollout>', `the rollout to ${name}`)
    .option('--client-cert <chain.pem>', 'client certificate chain of the operator: its CN is the actor in the audit log (else user:<login name>)')
    .option('--json', 'print the rollout id and its new status as JSON');
}

export function register(rollout: Command, ctx: CliContext): void {
  const run = async (opts: Options, verb: 'pause' | 'abort') => {
    const actor = actorFrom(ctx, opts.clientCert);
    const stores = await openStores(ctx, opts);
    try {
      const { was, status, changed, abortReason } = await controlRollout(stores, opts.id, verb, actor, opts.reason ? { reason: opts.reason } : {});
      if (opts.json) return ctx.json({ id: opts.id, status, was, ...(abortReason ? { abortReason } : {}) });
      ctx.out(
        verb === 'pause'
          ? changed
            ? `rollout ${opts.id} paused (was ${was}); a running driver stops at its next step; \`espfleet ota rollout resume --id ${opts.id}\` continues`
            : `rollout ${opts.id} was already paused`
          : `rollout ${opts.id} aborted (${abortReason}); boards already commanded finish their update`,
      );
    } finally {
      await stores.close();
    }
  };
  control(rollout, 'pause', 'pause a rollout: no more boards are commanded until `ota rollout resume`')
    .addHelpText('after', '\nExamples:\n  espfleet ota rollout pause --station station.toml --id r-20261202-104500 --client-cert alice.pem')
    .action((opts: Options) => run(opts, 'pause'));
  control(rollout, 'abort', 'abort a rollout for good: no more boards are commanded')
    .option('--reason <text>', 'why (goes into the rollout and the audit log)')
    .addHelpText('after', '\nExamples:\n  espfleet ota rollout abort --station station.toml --id r-20261202-104500 --client-cert alice.pem --reason "bad build"')
    .action((opts: Options) => run(opts, 'abort'));
}
