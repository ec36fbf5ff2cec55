// The rollout driver (issue 15, DESIGN.md "Pure planners, thin adapters"): a loop of
// write-ahead steps (rollout-store.ts stepRollout: state saved and audited before any
// message leaves), publishing `devices/<id>/cmd/ota` for each command (docs/ota-protocol.md
// §1) and feeding the boards' reports of this rollout (§2) back through applyReport. It wakes
// on the planner's wakeAt, on a message, or on a short poll (so an operator's pause/abort
// from another process is seen), re-reading the registry every step. Ends when the rollout
// is done, aborted or paused; or when `signal` aborts (Ctrl-C) between steps.
import type { MqttClient } from 'mqtt';
import type { AuditLog } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { FleetError } from './errors.ts';
import { FleetWatch, mqttBus, type RolloutBus, type WatchMessage } from './fleet-watch.ts';
import { otaCommand, reportFromEvent, reportFromOtaStatus, type RolloutReport } from './ota-messages.ts';
import { applyReport, TERMINAL, type BoardStatus, type RolloutAction } from './rollout-plan.ts';
import { loadRollout, stepRollout, updateRollout, type RolloutRecord } from './rollout-store.ts';

/** Time for the driver; tests give one they advance by hand. */
export interface DriverClock {
  now(): number;
  /** Resolves after `ms`, or at once when `cancel` aborts. */
  sleep(ms: number, cancel: AbortSignal): Promise<void>;
}

export const systemClock: DriverClock = {
  now: () => Date.now(),
  sleep: (ms, cancel) =>
    new Promise((resolve) => {
      if (cancel.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      cancel.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    }),
};

export type DriverEvent =
  | { type: 'wave-started'; wave: number; waves: number; boards: number }
  | { type: 'commanded'; ids: string[] }
  | { type: 'redelivered'; ids: string[] }
  | { type: 'report'; id: string; status: BoardStatus; report: RolloutReport }
  | { type: 'timed-out'; ids: string[] }
  | { type: 'wave-passed'; wave: number; waves: number }
  | { type: 'online'; id: string; online: boolean };

export interface DriveOptions {
  registry: Registry;
  audit: AuditLog;
  /** A connected client (or any bus: tests use an in-memory one). */
  client: MqttClient | RolloutBus;
  id: string;
  /** Who drives: the client certificate's CN (operator:alice); in every audit entry. */
  actor: string;
  clock?: DriverClock;
  signal?: AbortSignal;
  /** Steps happen at least this often (ms), so a pause or abort from elsewhere is seen; default 1000. */
  pollMs?: number;
  onEvent?: (e: DriverEvent) => void;
  /** An open watch on the same bus (`start` opened it to plan the waves). */
  watch?: FleetWatch;
}

export interface DriveResult {
  record: RolloutRecord;
  /** Why the loop ended: the rollout's status, or `stopped` (signal). */
  ended: 'done' | 'aborted' | 'paused' | 'stopped';
}

const isBus = (c: MqttClient | RolloutBus): c is RolloutBus => typeof (c as RolloutBus).publish === 'function' && typeof (c as MqttClient).publishAsync !== 'function';

/** Drives rollout `id` from the registry's state until it ends, pauses, or `signal` aborts. */
export async function driveRollout(opts: DriveOptions): Promise<DriveResult> {
  const { registry, audit, id, actor } = opts;
  const clock = opts.clock ?? systemClock;
  const pollMs = opts.pollMs ?? 1000;
  const emit = opts.onEvent ?? (() => {});
  const first = await loadRollout(registry, id);
  if (!first) throw new FleetError('fleet.rollout.not_found', `no rollout ${id} in the registry ${registry.path}`, { hint: 'list them with `espfleet ota rollout status`' });
  const bus = opts.watch?.bus ?? (isBus(opts.client) ? opts.client : mqttBus(opts.client));
  const command = JSON.stringify(otaCommand(id, first.spec));

  const reports: RolloutReport[] = [];
  let dirty = true;
  let wake = () => {};
  const onMessage = (m: WatchMessage) => {
    const at = clock.now();
    if (m.kind === 'status') {
      if (m.was?.online !== m.facts.online) emit({ type: 'online', id: m.id, online: m.facts.online });
      else return;
      if (m.facts.online && m.was !== undefined) comeBack.add(m.id);
    } else {
      const r = m.kind === 'ota' ? reportFromOtaStatus(m.id, m.payload, id, at) : reportFromEvent(m.id, m.payload, id, at);
      if (!r) return;
      reports.push(r);
    }
    dirty = true;
    wake();
  };
  const watch = opts.watch ?? (await FleetWatch.open(bus));
  const unlisten = watch.listen(onMessage);
  // What boards said while no driver ran (retained): their last ota/status of this rollout.
  for (const [board, payload] of watch.lastOta) {
    const r = reportFromOtaStatus(board, payload, id, clock.now());
    if (r) reports.push(r);
  }
  // A driver killed between recording boards as commanded and publishing to them, or a board
  // that went offline with the message in flight (clean session: the broker drops it), leaves
  // boards that are `commanded` but never got the command. A driver cannot tell those from
  // boards that did, so it re-sends the same command — same id — to every board still only
  // `commanded` once it starts (after their retained words are in), and to such a board when it
  // comes back online. A board that had it ignores the copy (its replay guard keeps the id);
  // one that did not starts now. Each board is re-sent to at most once per driver run.
  const redelivered = new Set<string>();
  const comeBack = new Set<string>();
  let started = false;
  let lost = false;
  void bus.closed?.then(() => {
    lost = true;
    wake();
  });

  try {
    for (;;) {
      if (opts.signal?.aborted) return { record: (await loadRollout(registry, id))!, ended: 'stopped' };
      if (lost) throw new FleetError('fleet.mqtt.lost', `rollout ${id}: the connection to the broker was lost`, { hint: `nothing is lost: \`espfleet ota rollout resume --id ${id}\` continues from the registry` });
      dirty = false;
      if (reports.length > 0) await applyReports(reports.splice(0));
      await redeliver();
      const now = clock.now();
      const step = await stepRollout(registry, audit, id, watch.online(), new Date(now), actor);
      await carryOut(step.actions, step.state.waveCount, step.state.boards);
      const status = step.state.status;
      if (status === 'done' || status === 'aborted' || status === 'paused') return { record: (await loadRollout(registry, id))!, ended: status };
      if (step.actions.length > 0 || dirty) continue;
      const delay = Math.max(0, Math.min(pollMs, step.wakeAt === undefined ? pollMs : step.wakeAt - now));
      const cancel = new AbortController();
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const onAbort = () => wake();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      await Promise.race([clock.sleep(delay, cancel.signal), woken]);
      opts.signal?.removeEventListener('abort', onAbort);
      cancel.abort();
      wake = () => {};
    }
  } finally {
    unlisten();
  }

  async function redeliver(): Promise<void> {
    // After the first step only boards that came back online are candidates: no registry read otherwise.
    if (started && comeBack.size === 0) return;
    const boards = (await loadRollout(registry, id))?.state.boards ?? {};
    const online = watch.online();
    const candidates = started ? [...comeBack] : Object.keys(boards);
    started = true;
    comeBack.clear();
    const ids = candidates.filter((b) => boards[b]?.status === 'commanded' && !redelivered.has(b) && online.get(b)?.online !== false).sort();
    if (ids.length === 0) return;
    for (const b of ids) redelivered.add(b);
    await audit.append({ action: 'rollout.command', actor, subject: { rollout: id }, details: { step: 'redeliver', ids, why: 'recorded as commanded with no word from the board since; the same command id, so a board that had it ignores the copy' } });
    await Promise.all(ids.map((board) => bus.publish(`devices/${board}/cmd/ota`, command).catch(() => undefined)));
    emit({ type: 'redelivered', ids });
  }

  async function carryOut(actions: readonly RolloutAction[], waves: number, boards: RolloutRecord['state']['boards']): Promise<void> {
    for (const a of actions) {
      if (a.type === 'start-wave') emit({ type: 'wave-started', wave: a.wave, waves, boards: Object.values(boards).filter((b) => b.wave === a.wave).length });
      else if (a.type === 'wave-passed') emit({ type: 'wave-passed', wave: a.wave, waves });
      else if (a.type === 'time-out') emit({ type: 'timed-out', ids: a.ids });
      else if (a.type === 'command') {
        // Already recorded as commanded (write-ahead): a publish that fails leaves boards that time out, never a second command.
        const failed: string[] = [];
        await Promise.all(a.ids.map((board) => bus.publish(`devices/${board}/cmd/ota`, command).catch(() => void failed.push(board))));
        emit({ type: 'commanded', ids: a.ids.filter((b) => !failed.includes(b)) });
        if (failed.length > 0) {
          throw new FleetError('fleet.rollout.publish_failed', `rollout ${id}: the command to ${failed.join(', ')} was not delivered to the broker`, {
            hint: `those boards are recorded as commanded and will time out; \`espfleet ota rollout resume --id ${id}\` continues with the others`,
          });
        }
      }
    }
  }

  async function applyReports(batch: RolloutReport[]): Promise<void> {
    const at = new Date(clock.now());
    // Most reports change nothing (progress within `downloading`, a retained word already
    // applied): judged on a plain read, so they cost no locked write of the registry.
    const cur = await loadRollout(registry, id);
    if (cur && batch.reduce((s, r) => applyReport(s, r), cur.state) === cur.state) return;
    const { before, after, changed } = await updateRollout(registry, id, at, (rec) => {
      let s = rec.state;
      for (const r of batch) s = applyReport(s, r);
      return s === rec.state ? undefined : s;
    });
    if (!changed) return;
    const last = new Map(batch.map((r) => [r.id, r]));
    for (const [board, r] of last) {
      const was = before.state.boards[board]?.status;
      const now = after.state.boards[board]?.status;
      if (now === undefined || now === was) continue;
      emit({ type: 'report', id: board, status: now, report: r });
      if (TERMINAL.has(now)) {
        await audit.append({
          action: 'rollout',
          actor,
          subject: { rollout: id, device: board },
          details: { step: 'report', status: now, state: r.state, ...(r.reason !== undefined ? { reason: r.reason } : {}), ...(r.running !== undefined ? { running: r.running } : {}) },
        });
      }
      if (now === 'committed') await recordVersion(board, after.spec.bundle.version, at);
    }
  }

  /** The registry's firmware_version follows a committed update (what `plan` and `--select version=` read). */
  async function recordVersion(board: string, version: string, at: Date): Promise<void> {
    const rec = await registry.get(board);
    if (rec && rec.firmwareVersion !== version) await registry.upsert({ ...rec, firmwareVersion: version, updatedAt: at.toISOString() });
  }
}
