// The operator's word on a rollout — pause, abort, resume — as one library the CLI
// (`ota rollout pause|abort|resume`) and the dashboard's buttons both call: the new state
// written under the registry's lock (a driver in another process sees it at its next step)
// and audited with the actor. Boards already commanded finish their update either way.
import type { AuditLog } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { FleetError } from './errors.ts';
import { setPaused, type RolloutState, type RolloutStatus } from './rollout-plan.ts';
import { loadRollout, updateRollout } from './rollout-store.ts';

export interface ControlStores {
  registry: Registry;
  audit: AuditLog;
}

export interface ControlResult {
  id: string;
  /** The status before and after; equal when nothing changed (already paused). */
  was: RolloutStatus;
  status: RolloutStatus;
  changed: boolean;
  abortReason?: string;
}

function ended(id: string, was: RolloutStatus, reason: string | undefined): FleetError {
  return new FleetError('fleet.rollout.ended', `rollout ${id} is already ${was}${reason ? ` (${reason})` : ''}`, { hint: 'see it with `espfleet ota rollout status --id`' });
}

/** Pause (no more boards commanded until resumed) or abort (for good) rollout `id`. */
export async function controlRollout(stores: ControlStores, id: string, verb: 'pause' | 'abort', actor: string, opts: { reason?: string; at?: Date } = {}): Promise<ControlResult> {
  const at = opts.at ?? new Date();
  const reason = `aborted by ${actor}${opts.reason ? `: ${opts.reason}` : ''}`;
  const { before, after, changed } = await updateRollout(stores.registry, id, at, (rec): RolloutState | undefined => {
    const s = rec.state;
    if (s.status === 'done' || s.status === 'aborted') return undefined;
    if (verb === 'pause') return s.status === 'paused' ? undefined : setPaused(s, true);
    return { ...s, status: 'aborted', abortReason: reason };
  });
  const was = before.state.status;
  if (was === 'done' || was === 'aborted') throw ended(id, was, before.state.abortReason);
  if (changed) {
    await stores.audit.append({
      action: verb === 'pause' ? 'rollout.pause' : 'rollout.abort',
      actor,
      subject: { rollout: id },
      details: { step: 'operator', was, wave: before.state.wave, ...(verb === 'abort' ? { reason } : {}) },
    });
  }
  return { id, was, status: after.state.status, changed, ...(after.state.abortReason ? { abortReason: after.state.abortReason } : {}) };
}

/**
 * Marks rollout `id` running again (a paused one; an interrupted one stays running) and
 * audits the resume; the caller then drives it (fleet/rollout-driver.ts driveRollout).
 */
export async function resumeRollout(stores: ControlStores, id: string, actor: string, at: Date = new Date()): Promise<ControlResult> {
  const rec = (await loadRollout(stores.registry, id));
  if (!rec) throw new FleetError('fleet.rollout.not_found', `no rollout ${id} in the registry ${stores.registry.path}`, { hint: 'list them with `espfleet ota rollout status`' });
  if (rec.state.status === 'done' || rec.state.status === 'aborted') {
    throw new FleetError('fleet.rollout.ended', `rollout ${id} is ${rec.state.status}${rec.state.abortReason ? ` (${rec.state.abortReason})` : ''}; there is nothing to resume`, {
      hint: rec.state.status === 'aborted' ? 'start a new rollout, or roll the committed boards back with `espfleet ota rollout rollback`' : undefined,
    });
  }
  const { before, after, changed } = await updateRollout(stores.registry, id, at, (r) => (r.state.status === 'paused' ? setPaused(r.state, false) : undefined));
  await stores.audit.append({ action: 'rollout.resume', actor, subject: { rollout: id }, details: { was: before.state.status, wave: before.state.wave } });
  return { id, was: before.state.status, status: after.state.status, changed };
}
