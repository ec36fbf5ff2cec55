// Seeded mutation fuzz of parseOtadata and bootSlot: only typed FirmwareErrors, and
// whatever the bytes, the chosen slot obeys the selection rules.
import { describe, expect, it } from 'vitest';
import { FirmwareError } from '../errors.ts';
import { buildOtadata, parseOtadata } from '../partition/index.ts';
import { SeededRandom } from './seeded-random.ts';

const SEEDS = [buildOtadata({ seq: 1 }), buildOtadata({ seq: 6, otherCopy: 'previous' }), buildOtadata({ seq: 3, state: 'PENDING_VERIFY' })];

describe('parseOtadata fuzz', () => {
  it('10,000+ mutated otadata images: only FirmwareError, consistent selection', () => {
    const rnd = new SeededRandom(0x07ad);
    let parsed = 0;
    const codes = new Map<string, number>();
    for (let i = 0; i < 12_000; i++) {
      let input: Uint8Array = rnd.pick(SEEDS).slice();
      // Only the two 32-byte entries carry meaning, so most cases mutate them in place
      // (cheap); one in ten goes through the generic mutator, whose resizes hit bad_size.
      if (rnd.int(0, 9) === 0) {
        input = rnd.mutate(input);
      } else {
        for (let m = rnd.int(1, 4); m > 0; m--) {
          const at = rnd.int(0, 1) * 0x1000 + rnd.int(0, 31);
          input[at] = rnd.int(0, 1) ? (input[at] as number) ^ (1 << rnd.int(0, 7)) : rnd.pick([0x00, 0xff, 0x01, 0x03, 0x04, rnd.int(0, 255)]);
        }
      }
      try {
        const o = parseOtadata(input);
        parsed++;
        const slot = o.bootSlot(2);
        const [c0, c1] = o.copies;
        if (o.active) {
          const other = o.active === c0 ? c1 : c0;
          if (!o.active.valid || (other.valid && other.seq > o.active.seq)) throw new Error(`case ${i}: wrong active copy`);
          if (slot.kind !== 'ota' || slot.index !== (o.active.seq - 1) % 2) throw new Error(`case ${i}: wrong slot`);
        } else if (c0.valid || c1.valid || slot.kind !== 'ota-fallback') {
          throw new Error(`case ${i}: no active copy although one is valid`);
        }
      } catch (e) {
        if (!(e instanceof FirmwareError)) throw new Error(`case ${i}: ${String(e)}`, { cause: e });
        if (e.code !== 'firmware.otadata.bad_size') throw new Error(`case ${i}: unexpected code ${e.code}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    // parseOtadata has one error (a wrong size); every other defect is a copy judged invalid.
    expect([...codes.keys()]).toEqual(['firmware.otadata.bad_size']);
    expect(codes.get('firmware.otadata.bad_size')).toBeGreaterThan(100);
    expect(parsed).toBeGreaterThan(3000);
  });
});
