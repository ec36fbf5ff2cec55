// The `espfleet fw` commands end to end, in-process: keygen → demo-bundle → sign →
// verify → inspect, plus the failure paths a user meets.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { espfleet } from './cli-harness.ts';

const env = { ESPFLEET_SIGNING_PASSPHRASE: 'test passphrase, generated per run' };
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-fw-'));
  for (const name of ['a', 'b']) {
    const r = await espfleet(['fw', 'keygen', '--out', join(dir, `${name}.pem`), '--pub', join(dir, `${name}.pub.pem`)], { env });
    expect(r.code, r.stderr).toBe(0);
  }
  const r = await espfleet(['fw', 'demo-bundle', '--out', join(dir, 'fw.zip'), '--version', '2.3.4', '--fs-dir', join(dir, 'no-such-dir-so-placeholders')]);
  // A missing --fs-dir is a user error; build the placeholder bundle instead.
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).toMatch(/cannot read directory/);
  const ok = await espfleet(['fw', 'demo-bundle', '--out', join(dir, 'fw.zip'), '--version', '2.3.4'], { cwd: dir });
  expect(ok.code, ok.stderr).toBe(0);
});

describe('espfleet fw', () => {
  it('keygen writes an encrypted private key (mode 0600) and prints the update.keyN value', async () => {
    const pem = readFileSync(join(dir, 'a.pem'), 'utf8');
    expect(pem).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    expect(statSync(join(dir, 'a.pem')).mode & 0o777).toBe(0o600);
    const r = await espfleet(['fw', 'keygen', '--out', join(dir, 'c.pem'), '--json'], { env });
    expect(JSON.parse(r.stdout).updateKey).toMatch(/^MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/);
  });

  it('keygen refuses an existing --out (it may be the only copy of a key) unless --force', async () => {
    const out = join(dir, 'existing.pem');
    writeFileSync(out, 'the only copy of last year\'s release key\n', { mode: 0o600 });
    const r = await espfleet(['fw', 'keygen', '--out', out, '--pub', join(dir, 'existing.pub.pem')], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: refusing to overwrite .*existing\.pem, which may be the only copy of a private key: it already exists \[io\.exists\]\nhint: .*--force/);
    expect(readFileSync(out, 'utf8')).toBe('the only copy of last year\'s release key\n');
    expect(() => statSync(join(dir, 'existing.pub.pem'))).toThrow();
    const forced = await espfleet(['fw', 'keygen', '--out', out, '--force'], { env });
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('keygen refuses to run without a passphrase source and says how to give one', async () => {
    const r = await espfleet(['fw', 'keygen', '--out', join(dir, 'd.pem')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ESPFLEET_SIGNING_PASSPHRASE/);
  });

  it('sign + verify: accepted with the signer key, refused with another or a required missing slot', async () => {
    const zip = join(dir, 'fw.zip');
    const signed = join(dir, 'fw.signed.zip');
    expect((await espfleet(['fw', 'sign', zip, '--key', join(dir, 'a.pem'), '--out', signed], { env })).code).toBe(0);

    const good = await espfleet(['fw', 'verify', signed, '--pubkey', join(dir, 'a.pub.pem')]);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(/sig0: verified/);

    const wrong = await espfleet(['fw', 'verify', signed, '--pubkey', join(dir, 'b.pub.pem')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/REFUSED/);

    const needsSlot1 = await espfleet(['fw', 'verify', signed, '--pubkey', join(dir, 'a.pub.pem'), '--pubkey', `1=${join(dir, 'b.pub.pem')}`, '--json']);
    expect(needsSlot1.code).toBe(1);
    expect(JSON.parse(needsSlot1.stdout)).toMatchObject({ accepted: false, mask: 3, verifiedMask: 1 });

    const tombstone = await espfleet(['fw', 'verify', signed, '--pubkey', join(dir, 'a.pub.pem'), '--require-mask', '0']);
    expect(tombstone.code).toBe(1);
  });

  it('sign with the wrong passphrase is one clear line and leaves the bundle unchanged', async () => {
    const zip = join(dir, 'fw.zip');
    const before = readFileSync(zip);
    const r = await espfleet(['fw', 'sign', zip, '--key', join(dir, 'a.pem')], { env: { ESPFLEET_SIGNING_PASSPHRASE: 'not it' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/^error: .*passphrase/i);
    expect(readFileSync(zip).equals(before)).toBe(true);
  });

  it('inspect shows the bundle, its parts at their addresses, the app version and the fs files', async () => {
    const r = await espfleet(['fw', 'inspect', join(dir, 'fw.zip'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ kind: 'bundle', ok: true, fields: { platform: 'esp32', version: '2.3.4' } });
    const parts = Object.fromEntries(report.parts.map((p: { name: string; address: number }) => [p.name, p.address]));
    expect(parts).toEqual({ boot: 0x1000, pt: 0x8000, otadata: 0xd000, nvs: 0x9000, app: 0x10000, fs: 0x190000 });
    const app = report.parts.find((p: { name: string }) => p.name === 'app');
    expect(app.content).toMatchObject({ kind: 'app-image', fields: { version: '2.3.4' } });
    expect(report.files.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(['/conf0.json', '/init.js']));

    const text = await espfleet(['fw', 'inspect', join(dir, 'fw.zip')]);
    expect(text.stdout).toMatch(/part app \(app\) at 0x00010000/);
  });

  it('inspect flags a corrupted part and exits 1; an unknown file is one clear error', async () => {
    const zip = new Uint8Array(readFileSync(join(dir, 'fw.zip')));
    const at = zip.length - 4000; // inside the last stored part's data
    zip[at] = (zip[at] as number) ^ 0xff;
    writeFileSync(join(dir, 'bad.zip'), zip);
    const r = await espfleet(['fw', 'inspect', join(dir, 'bad.zip'), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).ok).toBe(false);

    writeFileSync(join(dir, 'junk.bin'), 'hello world');
    const junk = await espfleet(['fw', 'inspect', join(dir, 'junk.bin')]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/^error: not a firmware file/);
  });
});
