// The one duration grammar: each unit, the bare-number rule, and a seeded property run
// (any text either parses to a whole, finite number of milliseconds or gives a reason).
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../firmware-js/test/seeded-random.ts';
import { readDuration } from '../duration.ts';

describe('readDuration', () => {
  it('reads every unit, and a bare number as milliseconds', () => {
    const ms = (t: string, o = {}) => {
      const d = readDuration(t, o);
      if (!d.ok) throw new Error(d.reason);
      return d.ms;
    };
    expect([ms('250ms'), ms('1.5s'), ms('2 sec'), ms('15m'), ms('3min'), ms('2h'), ms('30d'), ms('250')]).toEqual([250, 1500, 2000, 900_000, 180_000, 7_200_000, 2_592_000_000, 250]);
    expect(ms(' 45s ', { unitRequired: true })).toBe(45_000);
  });

  it('refuses what is not a duration, with a reason; unitRequired refuses a bare number', () => {
    for (const t of ['', 'soon', '-5s', '5 weeks', '1e3s', '5s5', 's']) expect(readDuration(t)).toMatchObject({ ok: false, reason: expect.stringMatching(/expected a duration/) });
    expect(readDuration('30', { unitRequired: true })).toMatchObject({ ok: false, reason: expect.not.stringContaining('500ms') });
  });

  it('seeded: any text gives a whole number of milliseconds or a reason, never a throw', () => {
    const rnd = new SeededRandom(0x5eed);
    const alphabet = '0123456789.smhdin ecx-';
    for (let i = 0; i < 5000; i++) {
      const text = Array.from({ length: rnd.int(0, 12) }, () => alphabet[rnd.int(0, alphabet.length - 1)]).join('');
      const d = readDuration(text);
      if (d.ok) expect(Number.isSafeInteger(d.ms) && d.ms >= 0).toBe(true);
      else expect(d.reason.length).toBeGreaterThan(0);
    }
  });
});
