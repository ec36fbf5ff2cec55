// The demo station stays usable after the demo: passphrases given in the environment are
// honoured; generated ones are kept in <workdir>/passphrases.env (0600, never printed), and
// every command the demo prints works on the station once that file is sourced.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStationConfig } from '../../../provisioner/station/config.ts';
import { openStation } from '../../../provisioner/station/open-station.ts';
import { runStation } from '../../../provisioner/station/runner.ts';
import { espfleet } from '../../../provisioner/test/cli-harness.ts';
import { boardsPerTest } from '../../../provisioner/test/session-fixtures.ts';
import { createDemoStation, PASSPHRASES_FILE } from '../demo-station.ts';

const root = mkdtempSync(join(tmpdir(), 'espfleet-demo-station-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const board = boardsPerTest();
const NAMES = ['ESPFLEET_CA_PASSPHRASE', 'ESPFLEET_KEYSTORE_PASSPHRASE'] as const;

/** What a shell has after `set -a; . file; set +a`, exactly as the demo tells the user to do it. */
function sourced(line: string): Record<string, string> {
  const r = spawnSync('bash', ['-c', `${line.replace(/\s+#.*$/, '')}\nprintf '%s\\0' "$ESPFLEET_CA_PASSPHRASE" "$ESPFLEET_KEYSTORE_PASSPHRASE"`], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  expect(r.status, r.stderr).toBe(0);
  const [ca = '', ks = ''] = r.stdout.split('\0');
  return { ESPFLEET_CA_PASSPHRASE: ca, ESPFLEET_KEYSTORE_PASSPHRASE: ks };
}

describe('demo station', () => {
  it('keeps generated passphrases in a 0600 file, never in what it prints, and the printed commands work afterwards', { timeout: 120_000 }, async () => {
    const workdir = mkdtempSync(join(root, 'gen-'));
    const b = board();
    const said: string[] = [];
    const demo = await createDemoStation({ workdir, ports: [b.simUrl], encryption: 'development', env: {}, say: (l) => said.push(l) });
    expect(demo.passphrasesFile).toBe(join(workdir, PASSPHRASES_FILE));
    expect(statSync(demo.passphrasesFile!).mode & 0o777).toBe(0o600);
    const text = readFileSync(demo.passphrasesFile!, 'utf8');
    for (const name of NAMES) {
      expect(text).toContain(`${name}='${demo.env[name]}'`);
      for (const l of [...said, ...demo.usage]) expect(l).not.toContain(demo.env[name]);
    }
    // The demo itself: the station provisions the board with these passphrases.
    const station = await openStation(loadStationConfig(demo.stationPath), { env: demo.env });
    const [outcome] = await runStation(station.ctx, [b.simUrl]);
    await station.close();
    expect(outcome?.ok, outcome?.error?.message).toBe(true);

    // Afterwards, in a fresh shell: source the file as printed, then run every printed command.
    const [source, ...commands] = demo.usage;
    expect(source).toBe(`set -a; . ${demo.passphrasesFile}; set +a      # ESPFLEET_CA_PASSPHRASE, ESPFLEET_KEYSTORE_PASSPHRASE (generated; the file is mode 0600)`);
    const env = sourced(source!);
    expect(env).toEqual({ ESPFLEET_CA_PASSPHRASE: demo.env.ESPFLEET_CA_PASSPHRASE, ESPFLEET_KEYSTORE_PASSPHRASE: demo.env.ESPFLEET_KEYSTORE_PASSPHRASE });
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const line of commands) {
      expect(line).toMatch(/^npx espfleet /);
      const argv = line.replace('<MAC>', outcome!.mac!).split(' ').slice(2);
      const r = await espfleet(argv, { env, cwd: root });
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
      if (argv[0] === 'devices') expect(r.stdout).toContain(outcome!.deviceId!);
      if (argv[0] === 'audit') expect(r.stdout).toMatch(/^audit log intact: \d+ entries .*matches the anchor/);
    }
    expect(statSync(join(workdir, 'board.key')).size).toBe(32);
  });

  it('honours passphrases set in the environment and writes no file for them', async () => {
    const workdir = mkdtempSync(join(root, 'set-'));
    const given = { ESPFLEET_CA_PASSPHRASE: 'ca passphrase from the operator 1', ESPFLEET_KEYSTORE_PASSPHRASE: 'keystore passphrase from the operator 2' };
    const demo = await createDemoStation({ workdir, ports: ['sim://none'], env: given });
    expect(demo.env).toEqual(given);
    expect(demo.passphrasesFile).toBeUndefined();
    expect(existsSync(join(workdir, PASSPHRASES_FILE))).toBe(false);
    const ks = await espfleet(['keystore', 'list', '--keystore', join(workdir, 'keystore.json')], { env: given });
    expect(ks.code, ks.stderr).toBe(0);
    const ca = await espfleet(['ca', 'list', '--ca-dir', join(workdir, 'ca')], { env: given });
    expect(ca.code, ca.stderr).toBe(0);

    // One set, one generated: only the generated one goes to the file.
    const half = mkdtempSync(join(root, 'half-'));
    const mixed = await createDemoStation({ workdir: half, ports: ['sim://none'], env: { ESPFLEET_CA_PASSPHRASE: given.ESPFLEET_CA_PASSPHRASE } });
    expect(mixed.env.ESPFLEET_CA_PASSPHRASE).toBe(given.ESPFLEET_CA_PASSPHRASE);
    const file = readFileSync(join(half, PASSPHRASES_FILE), 'utf8');
    expect(file).toContain(`ESPFLEET_KEYSTORE_PASSPHRASE='${mixed.env.ESPFLEET_KEYSTORE_PASSPHRASE}'`);
    expect(file).not.toContain('ESPFLEET_CA_PASSPHRASE');
  }, 60_000);
});
