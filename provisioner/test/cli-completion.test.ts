// Issue 20: `espfleet completion bash|zsh|fish` is generated from the commands, so every
// command and visible option is offered, hidden old spellings are not, and bash completes
// a real command line with the script it printed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { espfleet } from './cli-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What bash offers for the words typed so far (the last one being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const file = join(dir, 'espfleet.bash');
  writeFileSync(file, script);
  const arr = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync('bash', ['-c', `source ${file}; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _espfleet; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

describe('espfleet completion', () => {
  it('bash: groups, subcommands, options and choices from the program; no hidden aliases', async () => {
    const r = await espfleet(['completion', 'bash']);
    expect(r.code, r.stderr).toBe(0);
    expect(bashComplete(r.stdout, ['espfleet', 'en'])).toEqual(['encrypt-flash']);
    expect(bashComplete(r.stdout, ['espfleet', 'fw', ''])).toEqual(expect.arrayContaining(['inspect', 'keygen', 'sign', 'verify', 'encrypt', 'decrypt', 'demo-bundle']));
    expect(bashComplete(r.stdout, ['espfleet', 'fw', 'sign', '--'])).toEqual(expect.arrayContaining(['--key', '--slot', '--out', '--json']));
    expect(bashComplete(r.stdout, ['espfleet', 'flash', '--progress', ''])).toEqual(['auto', 'bar', 'lines', 'json', 'none']);
    expect(bashComplete(r.stdout, ['espfleet', 'ca', 'list', '--'])).toContain('--ca-dir');
    expect(bashComplete(r.stdout, ['espfleet', 'ca', 'list', '--'])).not.toContain('--dir');
    expect(bashComplete(r.stdout, ['espfleet', 'broker', 'config', '--'])).not.toContain('--port');
    expect(bashComplete(r.stdout, ['espfleet', 'c'])).toEqual(['ca', 'completion']);
  });

  it('zsh and fish scripts name the same commands and options', async () => {
    const zsh = await espfleet(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef espfleet\n/);
    expect(zsh.stdout).toContain('complete -o default -F _espfleet espfleet');
    const fish = await espfleet(['completion', 'fish']);
    expect(fish.code).toBe(0);
    expect(fish.stdout).toContain(`complete -c espfleet -n '__espfleet_at ""' -a 'flash'`);
    expect(fish.stdout).toContain(`complete -c espfleet -n '__espfleet_at "keystore list"' -l keystore-key-file -r -F`);
    expect(fish.stdout).toContain(`-n '__espfleet_at "flash"' -l progress -x -a 'auto bar lines json none'`);
  });

  it('an unknown shell is a usage error naming the choices', async () => {
    const r = await espfleet(['completion', 'powershell']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Allowed choices are bash, zsh, fish/);
  });
});
