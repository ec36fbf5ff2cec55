// The agent's own code on Cesanta's mJS and on the engine double gives the same output: the
// golden files were printed by cesanta/mjs @ cf375c4 running init.js, espfleet_cmd.js and espfleet_keys.js over
// plain-mJS API stand-ins (real-mjs/README.md); here the double runs the same files.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMjsEngine } from '../../hil-tests/mjs/index.ts';
import { keysText } from '../../provisioner/fleet/signing-key-command.ts';
import { AGENT_FS_DIR } from '../agent-files.ts';

const HERE = join(AGENT_FS_DIR, '..', 'test', 'real-mjs');

function runInDouble(file: string): string {
  let out = '';
  const engine = createMjsEngine({
    // The stand-ins first (they replace the firmware's api_*.js), then the agent's fs.
    fs: { readFile: (p) => [HERE, AGENT_FS_DIR].map((d) => join(d, p)).filter((f) => existsSync(f)).map((f) => new Uint8Array(readFileSync(f)))[0] },
    print: (line) => (out += `${line}\n`),
  });
  const r = engine.run(readFileSync(join(HERE, file), 'utf8'), file);
  if (!r.ok) out += `MJS error: ${r.error.message}\n`;
  return out;
}

describe("the agent's files on Cesanta's mJS and on the double", () => {
  for (const name of ['boot', 'conformance', 'ota', 'keys']) {
    it(`${name}.js prints what cesanta/mjs printed`, () => {
      // The real binary ends by printing the script's value (undefined); a script run does not.
      const expected = readFileSync(join(HERE, `${name}.expected`), 'latin1').replace(/undefined\n$/, '');
      expect(runInDouble(`${name}.js`)).toBe(expected);
    });
  }
});

describe('cmd/keys: the text Cesanta mJS builds is the one the host signs', () => {
  it('keys.expected: the texts the board checked equal signing-key-command.ts keysText for the same fields', () => {
    const printed = readFileSync(join(HERE, 'keys.expected'), 'latin1').split('\n').filter((l) => l.startsWith('verify KEYOLD "'));
    const texts = printed.map((l) => JSON.parse(l.slice('verify KEYOLD '.length).trimEnd()) as string);
    expect(texts).toContain(keysText({ id: 'k10', device_id: 'esp32_A1B2C3', seq: 1, set: { '1': 'KEYNEW' }, mask: 1 }));
    expect(texts).toContain(keysText({ id: 'k12', device_id: 'esp32_A1B2C3', seq: 2, set: {}, mask: 3 }));
    expect(texts).toContain(keysText({ id: 'k14', device_id: 'esp32_A1B2C3', seq: 3, set: { '0': '' }, mask: 2 }));
  });
});
