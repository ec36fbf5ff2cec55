// One grammar for durations everywhere a command takes one (--device-timeout,
// --pause-between, --rate, --rate-limit, --within, …): a number and a unit, ms s sec m
// min h d. Callers wrap the reason in their own error, so each names its option.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

export type DurationParse = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * "500ms", "30s", "15m", "2h", "30d" → milliseconds. A bare number is milliseconds unless
 * `unitRequired` (where a number alone would more likely mean days or seconds, refuse it).
 */
export function readDuration(text: string, opts: { unitRequired?: boolean } = {}): DurationParse {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?$/.exec(text.trim());
  if (!m || (opts.unitRequired === true && m[2] === undefined)) {
    return { ok: false, reason: `expected a duration such as ${opts.unitRequired === true ? '' : '500ms, '}30s, 15m, 2h, 30d` };
  }
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!);
  if (!Number.isFinite(ms)) return { ok: false, reason: 'duration out of range' };
  return { ok: true, ms };
}

/** The milliseconds of one unit (the `min` of "50/min"). */
export function unitMs(unit: string): number | undefined {
  return UNIT_MS[unit];
}
