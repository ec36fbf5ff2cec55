// `--rate-limit N/<duration>`: at most N certificates per device within the window.
import { readDuration } from '../io/duration.ts';
import { RenewalError } from './errors.ts';

export interface RateLimit {
  count: number;
  windowMs: number;
}

/** "30d", "12h", "90m", "45s" → milliseconds; the unit is required and the length more than 0. */
export function parseDuration(text: string): number {
  const d = readDuration(text, { unitRequired: true });
  if (!d.ok) throw new RenewalError('renewal.bad_duration', `not a duration: ${JSON.stringify(text)} (${d.reason})`, { hint: 'use a number and a unit: 45s, 90m, 12h, 30d' });
  if (!(d.ms > 0)) throw new RenewalError('renewal.bad_duration', `a duration must be more than 0, got ${JSON.stringify(text)}`);
  return d.ms;
}

/** "3/1d" → 3 per day. */
export function parseRateLimit(text: string): RateLimit {
  const m = /^(\d+)\/(.+)$/.exec(text.trim());
  const count = m ? Number(m[1]) : NaN;
  if (!m || !(count >= 1)) {
    throw new RenewalError('renewal.bad_rate_limit', `not a rate limit: ${JSON.stringify(text)}`, { hint: 'use <count>/<window>, e.g. 3/1d (3 certificates per device per day)' });
  }
  return { count, windowMs: parseDuration(m[2]!) };
}

export const DEFAULT_RATE_LIMIT = '3/1d';
