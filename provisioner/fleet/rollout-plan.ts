// The rollout planner (issue 15; STYLE lesson 11): a pure function of the rollout's state,
// the fleet's facts and the policy that says what to do now — which boards to command,
// which to time out, when a wave passed, when to abort. No I/O and no clock of its own:
// the caller passes `now`, applies the actions (rollout-state in the registry, MQTT), and
// calls again. The same state always gives the same actions, so a killed driver resumes.
import type { FailureThreshold, RolloutPolicy } from './rollout-policy.ts';
import type { FleetBoard } from './rollout-waves.ts';

export type BoardStatus = 'pending' | 'commanded' | 'downloading' | 'committed' | 'reverted' | 'failed' | 'timed-out';
export const TERMINAL: ReadonlySet<BoardStatus> = new Set(['committed', 'reverted', 'failed', 'timed-out']);

export interface BoardRollout {
  id: string;
  wave: number;
  status: BoardStatus;
  /** When the board was commanded (once per rollout, never again). */
  commandedAt?: number;
  /** When the status last changed. */
  updatedAt?: number;
}

export type RolloutStatus = 'running' | 'paused' | 'aborted' | 'done';

export interface RolloutState {
  status: RolloutStatus;
  /** The wave boards are commanded from now; waves before it passed. */
  wave: number;
  waveCount: number;
  /** When each wave started / passed (index = wave). */
  waveStartedAt: (number | undefined)[];
  wavePassedAt: (number | undefined)[];
  boards: Record<string, BoardRollout>;
  abortReason?: string;
}

export type RolloutAction =
  | { type: 'start-wave'; wave: number }
  | { type: 'command'; ids: string[] }
  | { type: 'time-out'; ids: string[] }
  | { type: 'wave-passed'; wave: number }
  | { type: 'pause'; reason: string }
  | { type: 'abort'; reason: string }
  | { type: 'done' };

export interface PlanStep {
  actions: RolloutAction[];
  /** The earliest time at which calling again may give new actions without a new report (undefined: only a report or an operator changes anything). */
  wakeAt?: number;
}

/** A new rollout's state from its wave plan. */
export function initialState(waves: readonly (readonly string[])[]): RolloutState {
  const boards: Record<string, BoardRollout> = {};
  waves.forEach((ids, wave) => ids.forEach((id) => (boards[id] = { id, wave, status: 'pending' })));
  return { status: waves.length === 0 ? 'done' : 'running', wave: 0, waveCount: waves.length, waveStartedAt: [], wavePassedAt: [], boards };
}

/** A failure: an update that ended badly, or a commanded board that never reported back. An offline board never commanded is not one. */
export function isFailure(b: BoardRollout): boolean {
  return b.status === 'reverted' || b.status === 'failed' || (b.status === 'timed-out' && b.commandedAt !== undefined);
}

export interface FailureTally {
  failures: number;
  /** Commanded boards with an ending (committed or a failure). */
  outcomes: number;
  targeted: number;
}

export function tally(state: RolloutState): FailureTally {
  let failures = 0;
  let outcomes = 0;
  const all = Object.values(state.boards);
  for (const b of all) {
    if (isFailure(b)) failures++;
    if (b.status === 'committed' || isFailure(b)) outcomes++;
  }
  return { failures, outcomes, targeted: all.length };
}

/**
 * Whether the failures passed the threshold. A count threshold is absolute. A percentage
 * is judged once `minSample` outcomes are in (or every targeted board's, when fewer) — or
 * at once when the failures alone already exceed that share of all targeted boards.
 */
export function thresholdPassed(t: FailureTally, threshold: FailureThreshold, minSample: number): boolean {
  if (threshold.kind === 'count') return t.failures > threshold.n;
  if (t.failures === 0) return false;
  if (t.failures * 100 > threshold.p * t.targeted) return true;
  const sample = Math.min(minSample, t.targeted);
  return t.outcomes >= sample && t.outcomes > 0 && t.failures * 100 > threshold.p * t.outcomes;
}

function describeThreshold(t: FailureTally, threshold: FailureThreshold): string {
  const limit = threshold.kind === 'count' ? `more than ${threshold.n}` : `more than ${threshold.p}%`;
  return `${t.failures} of ${t.outcomes} finished boards failed (${limit}; ${t.targeted} targeted)`;
}

/** The next actions. Apply them (applyActions) before asking again. */
export function nextActions(state: RolloutState, fleet: ReadonlyMap<string, Pick<FleetBoard, 'online'>>, policy: RolloutPolicy, now: number): PlanStep {
  if (state.status === 'aborted' || state.status === 'done' || state.status === 'paused') return { actions: [] };
  const boards = Object.values(state.boards).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const actions: RolloutAction[] = [];
  let wake: number | undefined;
  const soon = (t: number) => (wake = wake === undefined ? t : Math.min(wake, t));

  // 1. Commanded boards past their timeout; offline boards of a started wave never reached in time.
  const startedAt = state.waveStartedAt[state.wave];
  const timedOut: string[] = [];
  for (const b of boards) {
    if ((b.status === 'commanded' || b.status === 'downloading') && b.commandedAt !== undefined) {
      if (now - b.commandedAt >= policy.deviceTimeoutMs) timedOut.push(b.id);
      else soon(b.commandedAt + policy.deviceTimeoutMs);
    } else if (b.status === 'pending' && b.wave === state.wave && startedAt !== undefined && fleet.get(b.id)?.online !== true) {
      if (now - startedAt >= policy.deviceTimeoutMs) timedOut.push(b.id);
      else soon(startedAt + policy.deviceTimeoutMs);
    }
  }
  const timedOutSet = new Set(timedOut);
  const after = (b: BoardRollout): BoardRollout => (timedOutSet.has(b.id) ? { ...b, status: 'timed-out' } : b);
  if (timedOut.length > 0) actions.push({ type: 'time-out', ids: timedOut });

  // 2. Abort as soon as the failures pass the threshold (before anything else is commanded).
  const t = tally({ ...state, boards: Object.fromEntries(boards.map((b) => [b.id, after(b)])) });
  if (thresholdPassed(t, policy.maxFailures, policy.minSample)) {
    actions.push({ type: 'abort', reason: describeThreshold(t, policy.maxFailures) });
    return { actions };
  }

  // 3. Wave progression: the current wave passes when all its boards ended.
  let wave = state.wave;
  let waveStart = startedAt;
  const inWave = (w: number) => boards.filter((b) => b.wave === w).map(after);
  if (waveStart === undefined) {
    const passedAt = state.wavePassedAt[wave - 1];
    if (wave > 0 && typeof policy.pauseBetween === 'number' && passedAt !== undefined && now < passedAt + policy.pauseBetween) {
      soon(passedAt + policy.pauseBetween);
      return { actions, ...(wake !== undefined ? { wakeAt: wake } : {}) };
    }
    actions.push({ type: 'start-wave', wave });
    waveStart = now;
  } else if (inWave(wave).every((b) => TERMINAL.has(b.status))) {
    actions.push({ type: 'wave-passed', wave });
    if (wave + 1 >= state.waveCount) {
      actions.push({ type: 'done' });
      return { actions };
    }
    if (policy.pauseBetween === 'manual') {
      actions.push({ type: 'pause', reason: `wave ${wave + 1} of ${state.waveCount} passed; resume starts wave ${wave + 2}` });
      return { actions };
    }
    if (policy.pauseBetween > 0) {
      soon(now + policy.pauseBetween);
      return { actions, ...(wake !== undefined ? { wakeAt: wake } : {}) };
    }
    wave += 1;
    actions.push({ type: 'start-wave', wave });
    waveStart = now;
  }

  // 4. Commands: online, pending boards of the current wave, within the rate window.
  const windowStart = now - policy.rate.perMs;
  const recent = boards.filter((b) => b.commandedAt !== undefined && b.commandedAt > windowStart).map((b) => b.commandedAt!);
  const budget = policy.rate.count - recent.length;
  const ready = inWave(wave).filter((b) => b.status === 'pending' && b.commandedAt === undefined && fleet.get(b.id)?.online === true);
  const ids = ready.slice(0, Math.max(0, budget)).map((b) => b.id);
  if (ids.length > 0) actions.push({ type: 'command', ids });
  if (ready.length > ids.length) {
    // The window frees a slot when its oldest command leaves it.
    const window = [...recent, ...ids.map(() => now)].sort((a, b) => a - b);
    const freeAt = window[window.length - policy.rate.count];
    if (freeAt !== undefined) soon(freeAt + policy.rate.perMs);
  }
  // Offline boards of a newly started wave wait for deviceTimeout from now.
  if (waveStart === now && inWave(wave).some((b) => b.status === 'pending' && fleet.get(b.id)?.online !== true)) soon(now + policy.deviceTimeoutMs);
  return { actions, ...(wake !== undefined ? { wakeAt: wake } : {}) };
}

/** The state after the actions were carried out at `now` (commands sent, and so on). */
export function applyActions(state: RolloutState, actions: readonly RolloutAction[], now: number): RolloutState {
  const s: RolloutState = { ...state, boards: { ...state.boards }, waveStartedAt: [...state.waveStartedAt], wavePassedAt: [...state.wavePassedAt] };
  for (const a of actions) {
    switch (a.type) {
      case 'start-wave':
        s.wave = a.wave;
        s.waveStartedAt[a.wave] = now;
        break;
      case 'wave-passed':
        s.wavePassedAt[a.wave] = now;
        if (a.wave + 1 < s.waveCount) s.wave = a.wave + 1;
        break;
      case 'command':
        for (const id of a.ids) {
          const b = s.boards[id];
          if (!b || b.commandedAt !== undefined) throw new Error(`rollout: board ${id} commanded twice`);
          s.boards[id] = { ...b, status: 'commanded', commandedAt: now, updatedAt: now };
        }
        break;
      case 'time-out':
        for (const id of a.ids) s.boards[id] = { ...s.boards[id]!, status: 'timed-out', updatedAt: now };
        break;
      case 'pause':
        s.status = 'paused';
        break;
      case 'abort':
        s.status = 'aborted';
        s.abortReason = a.reason;
        break;
      case 'done':
        s.status = 'done';
        break;
    }
  }
  return s;
}

export interface BoardReport {
  id: string;
  status: 'downloading' | 'committed' | 'reverted' | 'failed';
  at: number;
}

/**
 * A board's report (its status topic). Reports about boards never commanded in this
 * rollout are ignored, as are reports after an ending — except that a board timed out
 * after its command may still report how it ended, which then counts instead.
 */
export function applyReport(state: RolloutState, r: BoardReport): RolloutState {
  const b = state.boards[r.id];
  if (!b || b.commandedAt === undefined) return state;
  if (TERMINAL.has(b.status) && !(b.status === 'timed-out' && r.status !== 'downloading')) return state;
  if (b.status === r.status) return state;
  return { ...state, boards: { ...state.boards, [r.id]: { ...b, status: r.status, updatedAt: r.at } } };
}

/** The operator's pause/resume: resume of a manual pause starts the next wave on the next step. */
export function setPaused(state: RolloutState, paused: boolean): RolloutState {
  if (state.status === 'aborted' || state.status === 'done') return state;
  return { ...state, status: paused ? 'paused' : 'running' };
}
