// Seeded fuzz of the mJS engine double: 10,000 programs (grammar-generated, then byte
// mutations of generated ones). The engine only ever answers with mJS errors, never hangs
// (step budget), and `agent check` refuses exactly the programs the parser refuses.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { checkSource, createMjsEngine, parseProgram } from '../mjs/index.ts';
import { binaryToBytes, bytesToBinary } from '../mjs/values.ts';
import { MjsProgramGenerator } from './helpers/mjs-gen.ts';

interface Tally {
  ran: number;
  errors: number;
  refused: number;
}

function exercise(src: Uint8Array, seed: number, tally: Tally): void {
  const text = bytesToBinary(src);
  const engine = createMjsEngine({ stepBudget: 3000, memoryBudget: 64 * 1024, stackDepth: 32 });
  const r = engine.run(src, `fuzz-${seed}.js`);
  if (!r.ok && r.error.internal) throw new Error(`seed ${seed}: engine failed inside: ${r.error.message}\n${text}`);
  tally.ran++;
  if (!r.ok) tally.errors++;
  const parses = parseProgram(text, 'f.js').ok;
  const findings = checkSource(text, 'f.js');
  if (findings.some((f) => f.refused) === parses) {
    throw new Error(`seed ${seed}: parser says ${parses ? 'ok' : 'refused'} but agent check disagrees\n${text}`);
  }
  if (!parses) tally.refused++;
}

describe('mJS engine fuzz (seeded)', () => {
  it('6,000 generated programs', () => {
    const tally: Tally = { ran: 0, errors: 0, refused: 0 };
    const rnd = new SeededRandom(0x6d6a73);
    const gen = new MjsProgramGenerator(rnd);
    for (let seed = 0; seed < 6000; seed++) exercise(binaryToBytes(gen.program()), seed, tally);
    expect(tally.ran).toBe(6000);
    // The corpus must reach both outcomes, or it tests nothing.
    expect(tally.errors).toBeGreaterThan(1000);
    expect(tally.ran - tally.errors).toBeGreaterThan(250);
    expect(tally.refused).toBeGreaterThan(100);
  });

  it('4,000 mutations of generated programs', () => {
    const tally: Tally = { ran: 0, errors: 0, refused: 0 };
    const rnd = new SeededRandom(0x4d4f53);
    const gen = new MjsProgramGenerator(rnd);
    for (let seed = 0; seed < 4000; seed++) {
      let src = binaryToBytes(gen.program());
      for (let m = rnd.int(1, 3); m > 0; m--) src = rnd.mutate(src);
      exercise(src, seed, tally);
    }
    expect(tally.ran).toBe(4000);
    expect(tally.refused).toBeGreaterThan(400);
  });

  it('deep nesting is a parse error, not a host stack overflow', () => {
    for (const src of ['('.repeat(5000), '['.repeat(5000), '-'.repeat(5000) + '1', 'a' + '.b'.repeat(5000), '{'.repeat(5000), 'if (1) '.repeat(3000) + ';']) {
      const r = createMjsEngine().run(src);
      expect(r.ok === false && r.error.internal).toBeFalsy();
      expect(() => checkSource(src, 'x.js')).not.toThrow();
    }
  });
});
