// `espfleet ota rollout status`: the rollouts recorded in the registry, and with --id one
// rollout wave by wave and board by board. Reads only (the registry is opened read-only).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { tally, type BoardStatus } from '../../../fleet/rollout-plan.ts';
import { listRollouts, loadRollout, type RolloutRecord } from '../../../fleet/rollout-store.ts';
import { openRegistryFromOptions, registryOptions, type RegistryCliOptions } from '../devices/registry-option.ts';

interface Options extends RegistryCliOptions {
  id?: string;
}

const STATUSES: readonly BoardStatus[] = ['pending', 'commanded', 'downloading', 'committed', 'reverted', 'failed', 'timed-out'];

function counts(rec: RolloutRecord, wave?: number): Record<BoardStatus, number> {
  const c = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<BoardStatus, number>;
  for (const b of Object.values(rec.state.boards)) if (wave === undefined || b.wave === wave) c[b.status]++;
  return c;
}

function summary(rec: RolloutRecord) {
  const t = tally(rec.state);
  return {
    id: rec.id,
    status: rec.state.status,
    wave: rec.state.wave + 1,
    waves: rec.state.waveCount,
    version: rec.spec.bundle.version,
    boards: t.targeted,
    failures: t.failures,
    counts: counts(rec),
    abortReason: rec.state.abortReason ?? null,
    actor: rec.actor,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
  };
}

export function register(rollout: Command, ctx: CliContext): void {
  registryOptions(rollout.command('status'))
    .description('show the rollouts recorded in the registry; with --id, one rollout per wave and per board')
    .option('--id <rollout>', 'only this rollout, in detail')
    .option('--json', 'print the status as JSON')
    .addHelpText(
      'after',
      `
Examples:
  espfleet ota rollout status --station station.toml
  espfleet ota rollout status --registry registry.sqlite --id r-2026-12-02 --json`,
    )
    .action(async (opts: Options) => {
      const registry = await openRegistryFromOptions(ctx, opts);
      try {
        if (opts.id === undefined) {
          const all = listRollouts(registry).map(summary);
          if (opts.json) return ctx.json(all);
          if (all.length === 0) return ctx.out('no rollouts');
          const rows = all.map((s) => [s.id, s.status, `${s.wave}/${s.waves}`, s.version, String(s.boards), String(s.counts.committed), String(s.failures), s.updatedAt]);
          for (const line of renderTable(['ROLLOUT', 'STATUS', 'WAVE', 'VERSION', 'BOARDS', 'COMMITTED', 'FAILED', 'UPDATED'], rows)) ctx.out(line);
          return;
        }
        const rec = loadRollout(registry, opts.id);
        if (!rec) throw new FleetError('fleet.rollout.not_found', `no rollout ${opts.id} in the registry ${registry.path}`, { hint: 'list them with `espfleet ota rollout status`' });
        const waves = Array.from({ length: rec.state.waveCount }, (_, w) => ({
          wave: w + 1,
          startedAt: rec.state.waveStartedAt[w] === undefined ? null : new Date(rec.state.waveStartedAt[w]!).toISOString(),
          passedAt: rec.state.wavePassedAt[w] === undefined ? null : new Date(rec.state.wavePassedAt[w]!).toISOString(),
          counts: counts(rec, w),
        }));
        const boards = Object.values(rec.state.boards).sort((a, b) => a.wave - b.wave || (a.id < b.id ? -1 : 1));
        if (opts.json) return ctx.json({ ...summary(rec), spec: rec.spec, waves, boards });
        const s = summary(rec);
        ctx.out(`rollout ${rec.id}: ${s.status}, wave ${s.wave} of ${s.waves}, version ${s.version} from ${rec.spec.url}, ${s.boards} boards, ${s.failures} failed${s.abortReason ? ` — aborted: ${s.abortReason}` : ''}`);
        ctx.out('');
        const waveRows = waves.map((w) => [String(w.wave), ...STATUSES.map((st) => String(w.counts[st])), w.startedAt ?? '-', w.passedAt ?? '-']);
        for (const line of renderTable(['WAVE', ...STATUSES.map((st) => st.toUpperCase()), 'STARTED', 'PASSED'], waveRows)) ctx.out(line);
        ctx.out('');
        const iso = (t: number | undefined) => (t === undefined ? '-' : new Date(t).toISOString());
        for (const line of renderTable(['DEVICE ID', 'WAVE', 'STATUS', 'COMMANDED', 'UPDATED'], boards.map((b) => [b.id, String(b.wave + 1), b.status, iso(b.commandedAt), iso(b.updatedAt)]))) ctx.out(line);
      } finally {
        await registry.close();
      }
    });
}
