// `espfleet agent check` and `agent run`, in-process: findings with file:line, exit
// codes, --json, and run's mjs-style output with load() reading from --fs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { espfleet } from './cli-harness.ts';

const work = mkdtempSync(join(tmpdir(), 'cli-agent-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const put = (path: string, text: string) => {
  mkdirSync(join(work, path, '..'), { recursive: true });
  writeFileSync(join(work, path), text);
};

put('good.js', 'let n = 3;\nprint("n", JSON.stringify(n));\n');
put('bad.js', [
  'function start(cfg) {',
  '  let topic = cfg.topic;',
  '  MQTT.sub(topic, function(conn, t, msg) { print(topic); }, null);',
  '}',
  'print("count: " + 5);',
  'let parts = "a,b".split(",");',
  'let ks = Object.keys({});',
  'let msg = JSON.stringify({t: "°C"});',
  'if (parts == null) {}',
  '',
].join('\n'));
put('refused.js', 'print(1);\nlet f = (a) => a;\n');
put('app/fs/init.js', 'load("api_util.js");\nprint(double(21));\n');
put('app/fs/api_util.js', 'function double(x) { return x * 2; }\n');
put('app/fs/boom.js', 'print("before");\nlet o = null;\nprint(o.x);\n');
put('app/fs/math.js', 'load("api_math.js");\n');
put('fs/init.js', 'print(1);\n');

const cli = (...args: string[]) => espfleet(args, { cwd: work });

describe('espfleet agent check', () => {
  it('passes a clean file with exit 0', async () => {
    const r = await cli('agent', 'check', 'good.js');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ok: 1 file, no findings\n');
  });

  it('reports every board-only mistake with file:line and exits 1', async () => {
    const r = await cli('agent', 'check', 'bad.js');
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(': ').slice(0, 2).join(': '))).toEqual([
      'bad.js:3: closure',
      'bad.js:5: string-plus-number',
      'bad.js:6: missing-member',
      'bad.js:7: missing-member',
      'bad.js:8: non-ascii',
      'bad.js:9: loose-equality',
      '6 findings in 1 file',
    ]);
    expect(r.stdout).toContain('[topic] is a local of function start');
    expect(r.stdout).toContain('Object.keys() does not exist in mJS');
  });

  it('reports what the parser refuses, at its line', async () => {
    const r = await cli('agent', 'check', 'refused.js', 'good.js');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('refused.js:2: parse: parse error at line 2; the board refuses the whole file\n1 finding in 2 files\n');
  });

  it('--json prints the findings array', async () => {
    const r = await cli('agent', 'check', '--json', 'refused.js', 'bad.js');
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout) as Array<{ file: string; line: number; rule: string; refused: boolean }>;
    expect(findings).toHaveLength(7);
    expect(findings[0]).toMatchObject({ file: 'refused.js', line: 2, rule: 'parse', refused: true });
    expect(findings.filter((f) => f.refused).map((f) => f.rule)).toEqual(['parse', 'loose-equality']);
    expect((await cli('agent', 'check', '--json', 'good.js')).stdout).toBe('[]\n');
  });

  it('searches directories for .js files, and checks fs/ when nothing is named', async () => {
    expect((await cli('agent', 'check', 'app')).stdout).toBe('ok: 4 files, no findings\n');
    expect((await cli('agent', 'check')).stdout).toBe('ok: 1 file, no findings\n');
  });

  it('a missing file is a user error with a hint', async () => {
    const r = await cli('agent', 'check', 'nope.js');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no such file or directory: nope.js [mjs.check.not_found]\nhint: name the agent\'s .js files or the directory holding them\n');
  });

  it('--help lists the rules and examples', async () => {
    const r = await cli('agent', 'check', '--help');
    expect(r.code).toBe(0);
    for (const word of ['closure', 'string-plus-number', 'missing-member', 'loose-equality', 'Examples:', '--json']) expect(r.stdout).toContain(word);
  });
});

describe('espfleet agent run', () => {
  it('prints as mJS does: each argument then one space, then a newline', async () => {
    const r = await cli('agent', 'run', 'good.js');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('n 3 \n');
  });

  it('load() reads from --fs', async () => {
    const r = await cli('agent', 'run', '--fs', 'app/fs', 'app/fs/init.js');
    expect(r).toMatchObject({ code: 0, stdout: '42 \n' });
    const without = await cli('agent', 'run', 'app/fs/init.js');
    expect(without).toMatchObject({ code: 1, stdout: 'MJS error: failed to load api_util.js\n' });
  });

  it('an uncaught error prints "MJS error: …" on stdout, the place on stderr, and exits 1', async () => {
    const r = await cli('agent', 'run', '--fs', 'app/fs', 'app/fs/boom.js');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('before \nMJS error: type error\n');
    expect(r.stderr).toBe(`at ${join('app', 'fs', 'boom.js')}:3\n`);
    expect((await cli('agent', 'run', 'refused.js')).stdout).toBe('MJS error: parse error at line 2\n');
  });

  it('files share one engine, in order, and a runaway loop is stopped', async () => {
    put('loop.js', 'while (true) {}\n');
    expect((await cli('agent', 'run', 'app/fs/api_util.js', 'good.js')).stdout).toBe('n 3 \n');
    const r = await cli('agent', 'run', '--step-budget', '1000', 'loop.js');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^MJS error: step budget exhausted/);
  });

  it('writes printed bytes unchanged', async () => {
    put('bytes.js', 'print("é", chr(255));\n');
    const r = await cli('agent', 'run', 'bytes.js');
    expect([...r.stdoutBytes]).toEqual([0xc3, 0xa9, 0x20, 0xff, 0x20, 0x0a]);
  });

  it('a missing file or --fs directory is a user error', async () => {
    expect((await cli('agent', 'run', 'nope.js')).stderr).toMatch(/^error: no such file: nope.js \[mjs.run.not_found\]/);
    expect((await cli('agent', 'run', '--fs', 'nodir', 'good.js')).stderr).toMatch(/\[mjs.run.fs_not_found\]/);
  });
});
