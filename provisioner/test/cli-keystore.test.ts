// `espfleet keystore init|list|rotate` end to end, with records escrowed through
// the library API the factory pipeline uses.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeystore } from '../../certs/index.ts';
import { espfleet } from './cli-harness.ts';

const passphrase = `ks-${Math.random().toString(36).slice(2)}-${Date.now()}`;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-keystore-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('espfleet keystore', () => {
  it('has help with an example for every subcommand', async () => {
    for (const sub of ['init', 'list', 'rotate']) {
      const h = await espfleet(['keystore', sub, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Example/);
    }
  });

  it('init creates a key file when missing, list shows records but never secrets', async () => {
    const ks = join(dir, 'keys.json');
    const keyFile = join(dir, 'master.key');
    const r = await espfleet(['keystore', 'init', '--keystore', ks, '--keystore-key-file', keyFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/new master key file/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const store = await openKeystore(ks, { keyFile });
    const secret = new Uint8Array(randomBytes(32));
    await store.put({ deviceId: 'esp32_000001', mac: '24:0a:c4:00:00:01', kind: 'flash-encryption-key', secret });
    const list = await espfleet(['keystore', 'list', '--keystore', ks, '--keystore-key-file', keyFile, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ deviceId: 'esp32_000001', mac: '24:0a:c4:00:00:01', kind: 'flash-encryption-key' })]);
    expect(list.stdout).not.toContain(Buffer.from(secret).toString('hex'));
    const text = await espfleet(['keystore', 'list', '--keystore', ks, '--keystore-key-file', keyFile]);
    expect(text.stdout).toMatch(/^DEVICE ID +MAC +KIND +CREATED\nesp32_000001 +24:0a:c4:00:00:01 +flash-encryption-key/);
  });

  it('passphrase keystores: wrong passphrase and tampering are distinct one-line errors; rotate keeps records', async () => {
    const ks = join(dir, 'pass.json');
    const env = { ESPFLEET_KEYSTORE_PASSPHRASE: passphrase };
    expect((await espfleet(['keystore', 'init', '--keystore', ks], { env })).code).toBe(0);
    const store = await openKeystore(ks, { passphrase });
    await store.put({ deviceId: 'dev-1', mac: '24:0a:c4:00:00:11', kind: 'flash-encryption-key', secret: new Uint8Array(randomBytes(32)) });
    await store.put({ deviceId: 'dev-2', mac: '24:0a:c4:00:00:12', kind: 'flash-encryption-key', secret: new Uint8Array(randomBytes(32)) });
    const wrong = await espfleet(['keystore', 'list', '--keystore', ks], { env: { ESPFLEET_KEYSTORE_PASSPHRASE: 'nope-nope-nope' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: wrong passphrase .*\[certs\.keystore\.bad_passphrase\]\nhint: .*\n$/);
    const original = readFileSync(ks, 'utf8');
    writeFileSync(ks, original.replace('"dev-2"', '"dev-3"'));
    const tampered = await espfleet(['keystore', 'list', '--keystore', ks], { env });
    expect(tampered.stderr).toMatch(/^error: .*\[certs\.keystore\.tampered\]\nhint: .*\n$/);
    writeFileSync(ks, original);
    const newPass = `${passphrase}-2`;
    const rot = await espfleet(['keystore', 'rotate', '--keystore', ks, '--json'], { env: { ...env, ESPFLEET_KEYSTORE_NEW_PASSPHRASE: newPass } });
    expect(rot.code, rot.stderr).toBe(0);
    expect(JSON.parse(rot.stdout)).toMatchObject({ records: 2, unlock: 'passphrase' });
    const after = await espfleet(['keystore', 'list', '--keystore', ks, '--json'], { env: { ESPFLEET_KEYSTORE_PASSPHRASE: newPass } });
    expect((JSON.parse(after.stdout) as Array<{ deviceId: string }>).map((e) => e.deviceId)).toEqual(['dev-1', 'dev-2']);
    for (const r of [rot, after, wrong]) expect(r.stdout + r.stderr).not.toContain(passphrase);
  });

  it('without a passphrase source and no terminal, says how to give one', async () => {
    const r = await espfleet(['keystore', 'init', '--keystore', join(dir, 'none.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ESPFLEET_KEYSTORE_PASSPHRASE/);
  });
});
