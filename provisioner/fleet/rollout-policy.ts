// The rollout policy (issue 15): waves, rate, failure threshold, minimum sample, device
// timeout, pause between waves, downgrade. Parsed from the CLI's strings with errors that
// name the option; the planner (rollout-plan.ts) only ever sees the parsed form.
import { FleetError } from './errors.ts';
import { readDuration, unitMs } from '../io/duration.ts';

/** A wave's cumulative size: `n` boards, or `p`% of the targeted boards (rounded up). */
export type WaveSize = { kind: 'count'; n: number } | { kind: 'percent'; p: number };

export type FailureThreshold = { kind: 'count'; n: number } | { kind: 'percent'; p: number };

export interface RolloutPolicy {
  /** Cumulative: `1,10%,50%,100%` = 1 board, then up to 10% of them, … then all. */
  waves: WaveSize[];
  /** At most `count` commands in any window of `perMs`. */
  rate: { count: number; perMs: number };
  /** Abort once failures pass this (more than n boards, or more than p% of the outcomes). */
  maxFailures: FailureThreshold;
  /** A percentage threshold is judged only on at least this many outcomes (or all boards, if fewer). */
  minSample: number;
  /** A commanded board that has not ended (committed/reverted/failed) by then is timed out; an offline board not reached by then after its wave started too. */
  deviceTimeoutMs: number;
  /** Wait this long after a wave passed before the next starts; 'manual': pause the rollout (resume starts the next). */
  pauseBetween: number | 'manual';
  allowDowngrade: boolean;
}

export interface PolicyText {
  waves?: string;
  rate?: string;
  maxFailures?: string;
  minSample?: string | number;
  deviceTimeout?: string;
  pauseBetween?: string;
  allowDowngrade?: boolean;
}

export const DEFAULT_POLICY_TEXT: Required<PolicyText> = {
  waves: '1,10%,50%,100%',
  rate: '50/min',
  maxFailures: '2%',
  minSample: 20,
  deviceTimeout: '15m',
  pauseBetween: '0',
  allowDowngrade: false,
};

function bad(option: string, value: string, expected: string): FleetError {
  return new FleetError('fleet.policy.bad_value', `${option} ${JSON.stringify(value)}: ${expected}`, { hint: `e.g. ${EXAMPLES[option] ?? ''}`.trim() });
}

const EXAMPLES: Record<string, string> = {
  '--waves': '--waves 1,10%,50%,100%',
  '--rate': '--rate 50/min (or 5/s, 1000/h)',
  '--max-failures': '--max-failures 2% or --max-failures 3',
  '--min-sample': '--min-sample 20',
  '--device-timeout': '--device-timeout 15m (ms, s, m, h)',
  '--pause-between': '--pause-between 10m, or manual',
};

export function parseWaves(text: string, option = '--waves'): WaveSize[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw bad(option, text, 'a comma-separated list of board counts and percentages');
  const waves = parts.map((p): WaveSize => {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(p);
    if (pct) {
      const v = Number(pct[1]);
      if (!(v > 0 && v <= 100)) throw bad(option, text, `${p} is not a percentage in (0, 100]`);
      return { kind: 'percent', p: v };
    }
    if (!/^\d+$/.test(p) || Number(p) < 1) throw bad(option, text, `${p} is neither a board count (≥ 1) nor a percentage`);
    return { kind: 'count', n: Number(p) };
  });
  const last = waves.at(-1)!;
  if (!(last.kind === 'percent' && last.p === 100)) throw bad(option, text, 'the last wave must be 100% (every targeted board)');
  // Cumulative sizes must grow where they can be compared without the fleet size.
  for (let i = 1; i < waves.length; i++) {
    const a = waves[i - 1]!;
    const b = waves[i]!;
    if (a.kind === b.kind && (a.kind === 'count' ? a.n >= (b as { n: number }).n : a.p >= (b as { p: number }).p)) {
      throw bad(option, text, `waves are cumulative, so each must be larger than the one before (${parts[i - 1]} then ${parts[i]})`);
    }
  }
  return waves;
}

export function parseDuration(text: string, option: string): number {
  const d = readDuration(text);
  if (!d.ok) throw bad(option, text, d.reason);
  return d.ms;
}

export function parseRate(text: string, option = '--rate'): { count: number; perMs: number } {
  const m = /^(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|m|min|h)$/.exec(text.trim());
  if (!m || Number(m[1]) < 1) throw bad(option, text, 'expected boards per time, such as 50/min, 5/s or 100/10m');
  return { count: Number(m[1]), perMs: Math.round(Number(m[2] ?? '1') * unitMs(m[3]!)!) };
}

export function parseMaxFailures(text: string, option = '--max-failures'): FailureThreshold {
  const t = text.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p >= 0 && p < 100)) throw bad(option, text, 'a percentage in [0, 100)');
    return { kind: 'percent', p };
  }
  if (/^\d+$/.test(t)) return { kind: 'count', n: Number(t) };
  throw bad(option, text, 'a number of boards (3) or a percentage of the outcomes (2%)');
}

export function parsePolicy(text: PolicyText = {}): RolloutPolicy {
  const t = { ...DEFAULT_POLICY_TEXT, ...Object.fromEntries(Object.entries(text).filter(([, v]) => v !== undefined)) };
  const minSample = String(t.minSample);
  if (!/^\d+$/.test(minSample.trim())) throw bad('--min-sample', minSample, 'a whole number of boards (0 or more)');
  const pause = t.pauseBetween.trim();
  return {
    waves: parseWaves(t.waves),
    rate: parseRate(t.rate),
    maxFailures: parseMaxFailures(t.maxFailures),
    minSample: Number(minSample),
    deviceTimeoutMs: (() => {
      const ms = parseDuration(t.deviceTimeout, '--device-timeout');
      if (ms <= 0) throw bad('--device-timeout', t.deviceTimeout, 'must be longer than 0');
      return ms;
    })(),
    pauseBetween: pause === 'manual' ? 'manual' : parseDuration(pause, '--pause-between'),
    allowDowngrade: t.allowDowngrade === true,
  };
}
