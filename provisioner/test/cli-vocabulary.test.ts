// Issue 20: one CLI that feels like one tool. Walks every command of the whole program
// (createProgram with allGroups) and holds it to the vocabulary in cli/flags.ts and
// docs/cli.md: one spelling per concept, `--port` always a board's port, old spellings only
// as hidden aliases that still work and warn, `--json` on every command that produces data,
// and every `--json` error a JSON object with the same exit status as without --json.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/lib/oracles.ts';
import { DEPRECATED, NO_JSON, VOCABULARY } from '../cli/flags.ts';
import { createProgram } from '../cli/program.ts';
import { espfleet } from './cli-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-vocabulary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Leaf {
  path: string;
  cmd: Command;
  options: readonly Option[];
}

async function leaves(): Promise<Leaf[]> {
  const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd: dir };
  const { program } = await createProgram(io, { allGroups: true });
  const out: Leaf[] = [];
  const walk = (cmd: Command, path: string[]) => {
    if (cmd.commands.length === 0) out.push({ path: path.join(' '), cmd, options: cmd.options });
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return out;
}

const visible = (l: Leaf) => l.options.filter((o) => !o.hidden);

describe('one flag vocabulary', async () => {
  const all = await leaves();

  it('walks the whole program', () => {
    expect(all.length).toBeGreaterThan(40);
    expect(all.map((l) => l.path)).toEqual(expect.arrayContaining(['flash', 'ca list', 'keystore list', 'broker config', 'completion']));
  });

  it('each concept has one spelling: an option described as a concept is spelled as the vocabulary says', () => {
    const wrong: string[] = [];
    for (const leaf of all) {
      for (const o of visible(leaf)) {
        for (const v of VOCABULARY) {
          if (v.claims?.test(o.description) && o.long !== v.flag) wrong.push(`${leaf.path}: ${o.long} is "${o.description}", which is ${v.flag}`);
          if (o.long === v.flag && !v.means.test(o.description)) wrong.push(`${leaf.path}: ${o.long} is "${o.description}", but ${v.flag} means ${v.concept}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('--port is always a board port, and every board port is --port (-p)', () => {
    for (const leaf of all) {
      for (const o of visible(leaf).filter((x) => x.long === '--port')) expect(o.description, leaf.path).toMatch(/^the board: |^a port to provision/);
    }
    const broker = all.find((l) => l.path === 'broker config') as Leaf;
    expect(visible(broker).map((o) => o.long)).toContain('--listen-port');
  });

  it('old spellings are hidden aliases where they were used, beside the new spelling', () => {
    for (const d of DEPRECATED) {
      const scoped = all.filter((l) => d.commands.test(l.path));
      expect(scoped.length, d.old).toBeGreaterThan(0);
      for (const leaf of scoped) {
        const old = leaf.options.filter((o) => o.long === d.old);
        expect(old.map((o) => o.hidden), `${leaf.path} ${d.old}`).toEqual(old.length ? [true] : []);
        if (old.length) expect(visible(leaf).map((o) => o.long), leaf.path).toContain(d.now);
      }
      // Nowhere visible where it meant the old concept.
      for (const leaf of scoped) expect(visible(leaf).map((o) => o.long)).not.toContain(d.old);
    }
  });

  it('every command that produces data has --json', () => {
    const missing = all.filter((l) => !(l.path in NO_JSON) && !l.options.some((o) => o.long === '--json')).map((l) => l.path);
    expect(missing).toEqual([]);
  });

  it('docs/cli.md lists every flag of the vocabulary and every old spelling', () => {
    const doc = readFileSync(join(repoRoot, 'docs/cli.md'), 'utf8');
    for (const v of VOCABULARY) expect(doc, v.flag).toContain(`\`${v.flag}`);
    for (const d of DEPRECATED) expect(doc, d.old).toMatch(new RegExp(`\`${d.old}\`[^\\n]*\`${d.now}\``));
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toContain('docs/cli.md');
  });
});

describe('--json errors', async () => {
  const all = await leaves();
  const withJson = all.filter((l) => l.options.some((o) => o.long === '--json'));

  it('a usage error of every --json command is one JSON object on stdout, exit status as without --json', async () => {
    for (const leaf of withJson) {
      const argv = [...leaf.path.split(' '), '--no-such-option-here'];
      const plain = await espfleet(argv, { cwd: dir });
      const json = await espfleet([...argv, '--json'], { cwd: dir });
      expect(json.code, leaf.path).toBe(plain.code);
      expect(json.code, leaf.path).not.toBe(0);
      const parsed = JSON.parse(json.stdout) as { error: { code: string; message: string; hint: string | null } };
      expect(parsed.error.code, leaf.path).toMatch(/^cli\.usage\./);
      // Commander names the first problem it finds: the unknown option, or a required one missing.
      expect(parsed.error.message, leaf.path).toMatch(/no-such-option-here|required option|missing required argument/);
    }
  });

  it('errors from the work itself are JSON too, with the code, message and hint of the text form', async () => {
    const cases: string[][] = [
      ['fw', 'inspect', join(dir, 'missing.bin')],
      ['ca', 'list', '--ca-dir', join(dir, 'no-ca')],
      ['devices', 'list'],
      ['fs', 'ls', join(dir, 'missing.img')],
      ['keystore', 'list', '--keystore', join(dir, 'no-keys.json'), '--keystore-key-file', join(dir, 'no.key')],
      ['flash', '--port', 'sim://nobody-here', join(dir, 'fw.zip')],
    ];
    for (const argv of cases) {
      const plain = await espfleet(argv, { cwd: dir });
      const json = await espfleet([...argv, '--json'], { cwd: dir });
      expect(plain.code, argv.join(' ')).toBe(1);
      expect(json.code, argv.join(' ')).toBe(1);
      const { error } = JSON.parse(json.stdout) as { error: { code: string; message: string; hint: string | null } };
      const text = /^error: (.*) \[([^\]]+)\]$/m.exec(plain.stderr);
      expect(text, plain.stderr).not.toBeNull();
      expect(error.message).toBe(text?.[1]);
      expect(error.code).toBe(text?.[2]);
      expect(error.hint).toBe(/^hint: (.*)$/m.exec(plain.stderr)?.[1] ?? null);
      expect(json.stderr, argv.join(' ')).not.toMatch(/^error:/m);
    }
  });
});

describe('old spellings still work, with a warning', () => {
  it('ca list --dir, audit verify --log, keystore --key-file, broker config --port', async () => {
    const ca = await espfleet(['ca', 'list', '--dir', join(dir, 'no-ca'), '--json']);
    expect(ca.stderr).toMatch(/^warning: --dir is deprecated, use --ca-dir/m);
    expect(JSON.parse(ca.stdout).error.message).toContain(join(dir, 'no-ca'));
    const audit = await espfleet(['audit', 'verify', '--log', join(dir, 'no-audit.jsonl')]);
    expect(audit.stderr).toMatch(/^warning: --log is deprecated, use --audit-log/m);
    expect(audit.stderr).toMatch(/no audit log at .*no-audit\.jsonl/);
    const ks = join(dir, 'alias-keys.json');
    const init = await espfleet(['keystore', 'init', '--keystore', ks, '--key-file', join(dir, 'alias.key')]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/^warning: --key-file is deprecated, use --keystore-key-file/m);
    expect(init.stdout).toMatch(/unlocked by key-file/);
    const broker = await espfleet(['broker', 'config', '--ca-dir', join(dir, 'no-ca'), '--out-dir', join(dir, 'b'), '--port', '99999']);
    expect(broker.stderr).toMatch(/^warning: --port is deprecated, use --listen-port/m);
    expect(broker.stderr).toMatch(/from 1 to 65535/); // the alias goes through the same parser
    expect(broker.code).toBe(1);
  });
});
