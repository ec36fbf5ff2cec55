// Issue 10's small ones: each bad input is one clear line (exit 1), each documented input
// is accepted, and a failed command leaves nothing behind.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { espfleet } from './cli-harness.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'espfleet-small-errors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One `error:` line (and perhaps a hint or commander's usage pointer), no stack, no JSON. */
function expectOneLineError(stderr: string): void {
  expect(stderr).toMatch(/^error: [^\n]+\n/);
  expect(stderr).not.toMatch(/\n\s+at |internal error|\{"/);
}

describe('small CLI errors', () => {
  it('fw verify --require-mask -1 (documented: ignore signatures) is accepted', async () => {
    const bundle = join(dir, 'mask.zip');
    expect((await espfleet(['fw', 'demo-bundle', '--out', bundle, '--version', '1.2.3'], { cwd: dir })).code).toBe(0);
    const pub = join(dir, 'k.pub.pem');
    expect((await espfleet(['fw', 'keygen', '--out', join(dir, 'k.pem'), '--pub', pub, '--unencrypted'], { cwd: dir })).code).toBe(0);
    const r = await espfleet(['fw', 'verify', bundle, '--pubkey', pub, '--require-mask', '-1']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^accepted \(mask -1\)$/m);
    expect(r.code).toBe(0);
    const bad = await espfleet(['fw', 'verify', bundle, '--pubkey', pub, '--require-mask', '-2']);
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr);
  });

  it('keystore export --mac zz:00: "invalid MAC", one line', async () => {
    const ks = join(dir, 'keys.json');
    const keyFile = join(dir, 'master.key');
    expect((await espfleet(['keystore', 'init', '--keystore', ks, '--keystore-key-file', keyFile])).code).toBe(0);
    const r = await espfleet(['keystore', 'export', '--keystore', ks, '--keystore-key-file', keyFile, '--mac', 'zz:00', '--out', join(dir, 'fe.bin')]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toMatch(/invalid MAC "zz:00"/);
    expect(existsSync(join(dir, 'fe.bin'))).toBe(false);
  });

  it("flash with a wrong keystore passphrase: the hint names flash's own options", async () => {
    const ks = join(dir, 'pass-keys.json');
    const env = { ESPFLEET_KEYSTORE_PASSPHRASE: 'right passphrase for the test' };
    expect((await espfleet(['keystore', 'init', '--keystore', ks], { env })).code).toBe(0);
    const bundle = join(dir, 'flash.zip');
    expect((await espfleet(['fw', 'demo-bundle', '--out', bundle], { cwd: dir })).code).toBe(0);
    const r = await espfleet(['flash', '--port', 'sim://nobody', bundle, '--encrypt-with-escrow', '--keystore', ks], {
      env: { ESPFLEET_KEYSTORE_PASSPHRASE: 'wrong' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[certs\.keystore\.bad_passphrase\]/);
    const hint = /^hint: (.*)$/m.exec(r.stderr)?.[1] ?? '';
    expect(hint).toMatch(/--keystore-passphrase-file/);
    expect(hint).toMatch(/--keystore-key-file/);
    // Every option the hint names is one `flash` has.
    const help = (await espfleet(['flash', '--help'])).stdout;
    for (const opt of hint.match(/--[a-z-]+/g) ?? []) expect(help).toContain(opt);
  });

  it('sim --listen on a port already in use fails in one line and creates no state file', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const state = join(dir, 'never.sim');
      const r = await espfleet(['sim', '--listen', `127.0.0.1:${port}`, '--state', state]);
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/EADDRINUSE/);
      expect(existsSync(state)).toBe(false);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('fw demo-bundle validates --version: 1.2.3 and 202611261829 yes, "not a version" no', async () => {
    for (const v of ['1.2.3', '202611261829', '2.8.0-47-g7db8cdacf']) {
      const r = await espfleet(['fw', 'demo-bundle', '--out', join(dir, `v-${v}.zip`), '--version', v], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
    }
    for (const v of ['not a version', '', '../1.0', '1.2.3/x', 'x'.repeat(40)]) {
      const out = join(dir, `bad-${readdirSync(dir).length}.zip`);
      const r = await espfleet(['fw', 'demo-bundle', '--out', out, '--version', v], { cwd: dir });
      expect(r.code, v).toBe(1);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/expected a firmware version such as 1\.2\.3/);
      expect(existsSync(out)).toBe(false);
    }
  });
});
