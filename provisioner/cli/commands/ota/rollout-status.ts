// `espfleet ota rollout status`: the rollouts recorded in the registry, and with --id one
// rollout wave by wave and board by board; --watch follows it as a driver changes it. Reads
// only (the registry is opened read-only; a read sees other processes' writes).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { tally, type BoardStatus } from '../../../fleet/rollout-plan.ts';
import { listRollouts, loadRollout, type RolloutRecord } from '../../../fleet/rollout-store.ts';
import type { Registry } from '../../../station/open-registry.ts';
import { openRegistryFromOptions, registryOptions, type RegistryCliOptions } from '../devices/registry-option.ts';

interface Options extends RegistryCliOptions {
  id?: string;
  watch?: boolean;
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

function waveRows(rec: RolloutRecord) {
  return Array.from({ length: rec.state.waveCount }, (_, w) => ({
    wave: w + 1,
    startedAt: rec.state.waveStartedAt[w] === undefined ? null : new Date(rec.state.waveStartedAt[w]!).toISOString(),
    passedAt: rec.state.wavePassedAt[w] === undefined ? null : new Date(rec.state.wavePassedAt[w]!).toISOString(),
    counts: counts(rec, w),
  }));
}

const sortedBoards = (rec: RolloutRecord) => Object.values(rec.state.boards).sort((a, b) => a.wave - b.wave || (a.id < b.id ? -1 : 1));

function detail(rec: RolloutRecord) {
  return { ...summary(rec), spec: rec.spec, waves: waveRows(rec), boards: sortedBoards(rec) };
}

/** One rollout as text: the headline, the waves, and the boards (all, or only those not committed). */
export function rolloutLines(rec: RolloutRecord, opts: { boards: 'all' | 'problems' }): string[] {
  const out: string[] = [];
  const s = summary(rec);
  const rollback = rec.spec.rollbackOf !== undefined ? ` (rollback of ${rec.spec.rollbackOf})` : '';
  out.push(`rollout ${rec.id}${rollback}: ${s.status}, wave ${s.wave} of ${s.waves}, version ${s.version} from ${rec.spec.url}, ${s.boards} boards, ${s.failures} failed${s.abortReason ? ` — aborted: ${s.abortReason}` : ''}`);
  out.push('');
  const rows = waveRows(rec).map((w) => [String(w.wave), ...STATUSES.map((st) => String(w.counts[st])), w.startedAt ?? '-', w.passedAt ?? '-']);
  out.push(...renderTable(['WAVE', ...STATUSES.map((st) => st.toUpperCase()), 'STARTED', 'PASSED'], rows));
  const boards = sortedBoards(rec).filter((b) => opts.boards === 'all' || b.status !== 'committed');
  if (boards.length > 0) {
    out.push('');
    const iso = (t: number | undefined) => (t === undefined ? '-' : new Date(t).toISOString());
    out.push(...renderTable(['DEVICE ID', 'WAVE', 'STATUS', 'COMMANDED', 'UPDATED'], boards.map((b) => [b.id, String(b.wave + 1), b.status, iso(b.commandedAt), iso(b.updatedAt)])));
  }
  return out;
}

/** A one-line picture of a rollout, for --watch without a terminal. */
export function rolloutLine(rec: RolloutRecord): string {
  const s = summary(rec);
  const c = STATUSES.filter((st) => s.counts[st] > 0).map((st) => `${s.counts[st]} ${st}`);
  return `${rec.id} ${s.status} wave ${s.wave}/${s.waves}: ${c.join(', ')}${s.abortReason ? ` — aborted: ${s.abortReason}` : ''}`;
}

/**
 * --watch: redraws (a terminal) or prints a line (else; JSON lines with --json) whenever
 * the recorded rollout changes, until it is done or aborted, or Ctrl-C.
 */
async function watch(ctx: CliContext, registry: Registry, first: RolloutRecord, json: boolean): Promise<void> {
  const release = ctx.interrupt?.hold();
  const signal = ctx.interrupt?.signal;
  const tty = ctx.stdout.isTTY === true && !json;
  let last = '';
  try {
    for (let rec: RolloutRecord | undefined = first; rec; rec = await loadRollout(registry, first.id)) {
      const key = JSON.stringify([rec.state, rec.updatedAt]);
      if (key !== last) {
        last = key;
        if (json) ctx.stdout.write(`${JSON.stringify(detail(rec))}\n`);
        else if (tty) ctx.stdout.write(`\x1b[H\x1b[2J${rolloutLines(rec, { boards: 'all' }).join('\n')}\n`);
        else ctx.out(`${new Date().toISOString()} ${rolloutLine(rec)}`);
      }
      if (rec.state.status === 'done' || rec.state.status === 'aborted' || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, WATCH_POLL_MS);
        function done() {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    release?.();
  }
}

const WATCH_POLL_MS = 500;

export function register(rollout: Command, ctx: CliContext): void {
  registryOptions(rollout.command('status'))
    .description('show the rollouts recorded in the registry; with --id, one rollout per wave and per board')
    .option('--id <rollout>', 'only this rollout, in detail')
    .option('--watch', 'with --id: show it again whenever it changes (redrawn on a terminal, else one line per change), until done or aborted')
    .option('--json', 'print the status as JSON (with --watch: one JSON line per change)')
    .addHelpText(
      'after',
      `
Examples:
  espfleet ota rollout status --station station.toml
  espfleet ota rollout status --registry registry.sqlite --id r-2026-12-02 --json
  espfleet ota rollout status --station station.toml --id r-2026-12-02 --watch`,
    )
    .action(async (opts: Options) => {
      const registry = await openRegistryFromOptions(ctx, opts);
      try {
        if (opts.id === undefined) {
          if (opts.watch) throw new FleetError('fleet.rollout.watch_needs_id', '--watch follows one rollout: give --id', { hint: 'list them with `espfleet ota rollout status`' });
          const all = (await listRollouts(registry)).map(summary);
          if (opts.json) return ctx.json(all);
          if (all.length === 0) return ctx.out('no rollouts');
          const rows = all.map((s) => [s.id, s.status, `${s.wave}/${s.waves}`, s.version, String(s.boards), String(s.counts.committed), String(s.failures), s.updatedAt]);
          for (const line of renderTable(['ROLLOUT', 'STATUS', 'WAVE', 'VERSION', 'BOARDS', 'COMMITTED', 'FAILED', 'UPDATED'], rows)) ctx.out(line);
          return;
        }
        const rec = await loadRollout(registry, opts.id);
        if (!rec) throw new FleetError('fleet.rollout.not_found', `no rollout ${opts.id} in the registry ${registry.path}`, { hint: 'list them with `espfleet ota rollout status`' });
        if (opts.watch) return await watch(ctx, registry, rec, opts.json === true);
        if (opts.json) return ctx.json(detail(rec));
        for (const line of rolloutLines(rec, { boards: 'all' })) ctx.out(line);
      } finally {
        await registry.close();
      }
    });
}
