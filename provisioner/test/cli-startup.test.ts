// Start-up stays cheap (issue 11): each command loads only its own group, the product's
// commands never load the virtual board, and every group's summary is its description.
// Times are measured by `scripts/bench cli-startup`, not here.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/lib/oracles.ts';
import { createProgram } from '../cli/program.ts';
import { commandGroups } from '../cli/commands/index.ts';

function modulesOf(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', join(repoRoot, 'scripts/lib/count-modules.mjs'), join(repoRoot, 'provisioner/cli/espfleet.mjs'), ...args], {
    env: { ...process.env, ESPFLEET_LIST_MODULES: '1' },
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return [...r.stderr.matchAll(/^espfleet-module: (.+)$/gm)].map((m) => (m[1] as string).replace(/^dist\//, '').replace(/\.js$/, '.ts'));
}

describe('CLI start-up', () => {
  it('--version and --help load no command group', () => {
    for (const args of [['--version'], ['--help']]) {
      const mods = modulesOf(args);
      expect(mods.filter((m) => m.startsWith('provisioner/cli/commands/') && m !== 'provisioner/cli/commands/index.ts')).toEqual([]);
      expect(mods.some((m) => m.startsWith('provisioner/session/') || m.startsWith('certs/'))).toBe(false);
    }
  });

  it('a command loads its own group only, and only `sim` loads the virtual board', () => {
    const flash = modulesOf(['flash', '--help']);
    expect(flash).toContain('provisioner/cli/commands/flash/index.ts');
    expect(flash.filter((m) => /^provisioner\/cli\/commands\/(ca|provision|fw|sim)\//.test(m))).toEqual([]);
    for (const args of [['flash', '--help'], ['provision', '--help'], ['ca', '--help'], ['info', '--help']]) {
      expect(modulesOf(args).filter((m) => m.startsWith('hil-tests/virtual-esp32/'))).toEqual([]);
    }
    expect(modulesOf(['sim', '--help']).some((m) => m.startsWith('hil-tests/virtual-esp32/'))).toBe(true);
  });

  it('every group registers the command its table names, described by its summary', async () => {
    const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd: repoRoot };
    const { program } = await createProgram(io, { allGroups: true });
    expect(program.commands.map((c) => [c.name(), c.description()])).toEqual(commandGroups.map((g) => [g.name, g.summary]));
    for (const cmd of program.commands) expect(cmd.helpInformation().replace(/\s+/g, ' ')).toContain(cmd.description());
  });
});
