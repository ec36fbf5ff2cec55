// The one gate every oracle-dependent test goes through: a missing tool skips locally
// and fails with CI=true, naming the tool and scripts/setup; setup checks the same
// binaries the tests run.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OracleMissing, oracleAvailable, oraclePath, repoRoot, requireOracle } from '../oracles.ts';

const missingGo = { PATH: process.env.PATH, ESPFLEET_ORACLE_GO: '/nonexistent/bin/go' };

describe('oracle gate', () => {
  it('a missing oracle: false locally, OracleMissing naming the tool and scripts/setup with CI=true', () => {
    expect(oracleAvailable('go', missingGo)).toBe(false);
    expect(() => oracleAvailable('go', { ...missingGo, CI: 'true' })).toThrow(OracleMissing);
    expect(() => oracleAvailable('go', { ...missingGo, CI: 'true' })).toThrow(/test oracle go is missing .*\/nonexistent\/bin\/go.*: run scripts\/setup/);
    expect(() => requireOracle('go', missingGo)).toThrow(/run scripts\/setup/);
  });

  it('finds Go and mosquitto outside PATH where Debian and the Go tarball put them', () => {
    // With an empty PATH only the fixed places remain; on this machine go is /usr/local/go/bin/go.
    const go = oraclePath('go', { PATH: '' });
    if (go !== undefined) expect(['/usr/local/go/bin/go', '/usr/lib/go/bin/go']).toContain(go);
    const mosquitto = oraclePath('mosquitto', { PATH: '' });
    if (mosquitto !== undefined) expect(mosquitto).toBe('/usr/sbin/mosquitto');
    expect(oraclePath('esptool', { PATH: '' })).toBe(oraclePath('esptool'));
  });

  it('scripts/setup --check runs every oracle the tests use and prints its version; a missing one fails it', { timeout: 120_000 }, async () => {
    const setup = join(repoRoot, 'scripts', 'setup');
    const exec = promisify(execFile);
    const ok = await exec(setup, ['--check'], { cwd: repoRoot });
    for (const name of ['esptool', 'espefuse', 'espsecure', 'python', 'openssl', 'mosquitto', 'go']) expect(ok.stdout).toMatch(new RegExp(`^ok ${name} +/\\S+: \\S`, 'm'));
    expect(ok.stdout).toMatch(/^ok go +\S+: go version go\d/m);
    const bad = await exec(setup, ['--check'], { cwd: repoRoot, env: { ...process.env, ESPFLEET_ORACLE_GO: '/nonexistent/bin/go' } }).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stdout).toMatch(/^MISSING go: .*run scripts\/setup/m);
  });
});
