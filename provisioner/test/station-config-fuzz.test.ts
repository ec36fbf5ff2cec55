// Seeded fuzz of the station.toml parser: thousands of mutated files (byte mutations of
// the example and line-level splices) either parse or throw StationConfigError — never
// another error, never a hang.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { StationConfigError, parseStationConfig } from '../station/config.ts';

const EXAMPLE = readFileSync(resolve(import.meta.dirname, '../../docs/station.example.toml'), 'utf8');

const SNIPPETS = [
  'mode = "on"',
  'baud = -1',
  'baud = 1e400',
  'x = 9223372036854775807',
  'x = 99999999999999999999',
  '[[ports.usb]]',
  '[agent.a.b.c.d]',
  'k = [[1], ["a"]]',
  'k = { a = { b = 1 } }',
  'id = 1979-05-27T07:32:00Z',
  'id = 07:32:00',
  'urls = []',
  '"quoted key" = true',
  'a.b.c = 1',
  '[station]',
  'key = """multi\nline"""',
  "path = 'literal\\'",
  'n = nan',
  'n = -inf',
  '# comment',
];

function mutateText(rng: SeededRandom, text: string): string {
  const lines = text.split('\n');
  switch (rng.int(0, 3)) {
    case 0:
      return Buffer.from(rng.mutate(new Uint8Array(Buffer.from(text, 'utf8')))).toString('utf8');
    case 1: {
      lines.splice(rng.int(0, lines.length), 0, rng.pick(SNIPPETS));
      return lines.join('\n');
    }
    case 2: {
      const i = rng.int(0, lines.length - 1);
      const j = rng.int(0, lines.length - 1);
      [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
      return lines.join('\n');
    }
    default: {
      let t = text;
      for (let k = rng.int(2, 6); k > 0; k--) t = Buffer.from(rng.mutate(new Uint8Array(Buffer.from(t, 'utf8')))).toString('utf8');
      return t;
    }
  }
}

describe('station config fuzz', () => {
  it('2,500 mutated files: parse or StationConfigError only', () => {
    const rng = new SeededRandom(0x5747_1011);
    const outcomes = { parsed: 0, unknown_key: 0, bad_value: 0, missing: 0, syntax: 0 };
    for (let n = 0; n < 2500; n++) {
      const text = mutateText(rng, EXAMPLE);
      try {
        parseStationConfig(text, { baseDir: '/srv/station' });
        outcomes.parsed++;
      } catch (e) {
        if (!(e instanceof StationConfigError)) {
          throw new Error(`case ${n}: not a StationConfigError: ${String(e)}\n--- input ---\n${text}`);
        }
        expect(e.message.includes('\n'), `case ${n}: one-line message`).toBe(false);
        outcomes[e.code.replace('station.config.', '') as keyof typeof outcomes]++;
      }
    }
    // The mutations reach every outcome, so the fuzz exercises more than the TOML parser.
    for (const [k, v] of Object.entries(outcomes)) expect(v, k).toBeGreaterThan(0);
  }, 120_000);
});
