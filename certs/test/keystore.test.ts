// The device-secret keystore: round trips, distinct errors for a wrong passphrase
// and for tampering, crash safety of the durable write, and master-key rotation.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeystore, openKeystore } from '../index.ts';
import { tempDir, testPassphrase } from './helpers.ts';

const tmp = tempDir('espfleet-keystore-');
afterAll(() => tmp.cleanup());
// Cheap scrypt for tests; the default cost is exercised by the CLI tests.
const fast = { scrypt: { N: 1 << 12, r: 8, p: 1 } };
let n = 0;
const newPath = () => join(tmp.path, `ks-${n++}.json`);
const feKey = () => new Uint8Array(randomBytes(32));

describe('keystore', () => {
  it('stores secrets by device id and MAC; list shows no secrets; the file holds no plaintext', async () => {
    const path = newPath();
    const pass = { passphrase: testPassphrase() };
    const ks = await createKeystore(path, pass, fast);
    const k1 = feKey();
    await ks.put({ deviceId: 'esp32_000001', mac: '24:0A:C4:00:00:01', kind: 'flash-encryption-key', secret: k1, meta: { station: 's1' } });
    await ks.put({ deviceId: 'esp32_000002', mac: '240ac4000002', kind: 'flash-encryption-key', secret: feKey() });
    const again = await openKeystore(path, pass);
    expect(again.get({ mac: '24-0a-c4-00-00-01' }, 'flash-encryption-key').secret).toEqual(k1);
    expect(again.get({ deviceId: 'esp32_000001' }, 'flash-encryption-key')).toMatchObject({ mac: '24:0a:c4:00:00:01', meta: { station: 's1' } });
    expect(again.list().map((e) => e.mac)).toEqual(['24:0a:c4:00:00:01', '24:0a:c4:00:00:02']);
    expect(JSON.stringify(again.list())).not.toMatch(/secret|ciphertext/);
    expect(readFileSync(path, 'utf8')).not.toContain(Buffer.from(k1).toString('hex'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(() => again.get({ mac: '24:0a:c4:00:00:09' }, 'flash-encryption-key')).toThrow(expect.objectContaining({ code: 'certs.keystore.not_found' }));
  });

  it('refuses to replace an escrowed key but accepts an identical retry', async () => {
    const path = newPath();
    const ks = await createKeystore(path, { passphrase: testPassphrase() }, fast);
    const k = feKey();
    const rec = { deviceId: 'dev-1', mac: '24:0a:c4:00:00:01', kind: 'flash-encryption-key' as const, secret: k };
    await ks.put(rec);
    await expect(ks.put(rec)).resolves.toMatchObject({ deviceId: 'dev-1' });
    await expect(ks.put({ ...rec, secret: feKey() })).rejects.toMatchObject({ code: 'certs.keystore.conflict' });
    await expect(ks.put({ ...rec, mac: '24:0a:c4:00:00:02' })).rejects.toMatchObject({ code: 'certs.keystore.conflict' });
    await expect(ks.put({ ...rec, mac: 'xx' })).rejects.toMatchObject({ code: 'certs.keystore.bad_mac' });
    await expect(ks.put({ ...rec, deviceId: 'a/b' })).rejects.toMatchObject({ code: 'certs.device.bad_id' });
    expect(ks.list()).toHaveLength(1);
  });

  it('tells a wrong passphrase from a flipped byte', async () => {
    const path = newPath();
    const pass = testPassphrase();
    const ks = await createKeystore(path, { passphrase: pass }, fast);
    await ks.put({ deviceId: 'dev-1', mac: '24:0a:c4:00:00:01', kind: 'flash-encryption-key', secret: feKey() });
    await expect(openKeystore(path, { passphrase: `${pass}!` })).rejects.toMatchObject({
      code: 'certs.keystore.bad_passphrase',
      message: expect.stringContaining(path),
    });
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf('"ciphertext": "') + 20;
    const flipped = text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1);
    writeFileSync(path, flipped);
    await expect(openKeystore(path, { passphrase: pass })).rejects.toMatchObject({ code: 'certs.keystore.tampered' });
    writeFileSync(path, text.replace('"deviceId": "dev-1"', '"deviceId": "dev-2"'));
    await expect(openKeystore(path, { passphrase: pass })).rejects.toMatchObject({ code: 'certs.keystore.tampered' });
    writeFileSync(path, text.replace(/"N": \d+/, '"N": 1073741824'));
    await expect(openKeystore(path, { passphrase: pass })).rejects.toMatchObject({ code: 'certs.keystore.tampered' });
    writeFileSync(path, text.slice(0, text.length / 2));
    await expect(openKeystore(path, { passphrase: pass })).rejects.toMatchObject({ code: 'certs.keystore.tampered' });
    writeFileSync(path, text);
    await expect(openKeystore(path, { passphrase: pass })).resolves.toBeDefined();
  });

  it('loses no earlier record when the process dies between write and rename', async () => {
    const path = newPath();
    const pass = { passphrase: testPassphrase() };
    const crash = { armed: false };
    const ks = await createKeystore(path, pass, {
      ...fast,
      hooks: {
        beforeRename: () => {
          if (crash.armed) throw new Error('simulated power loss');
        },
      },
    });
    const k1 = feKey();
    await ks.put({ deviceId: 'dev-1', mac: '24:0a:c4:00:00:01', kind: 'flash-encryption-key', secret: k1 });
    crash.armed = true;
    await expect(ks.put({ deviceId: 'dev-2', mac: '24:0a:c4:00:00:02', kind: 'flash-encryption-key', secret: feKey() })).rejects.toThrow(/power loss/);
    // The half-done temp file is still there, as after a real crash, and does not disturb opening.
    expect(readdirSync(tmp.path).some((f) => f.startsWith(`.${path.split('/').pop()}.`) && f.endsWith('.tmp'))).toBe(true);
    const after = await openKeystore(path, pass);
    expect(after.list().map((e) => e.deviceId)).toEqual(['dev-1']);
    expect(after.get({ deviceId: 'dev-1' }, 'flash-encryption-key').secret).toEqual(k1);
  });

  it('rotates the master key keeping every record, and can move to a key file', async () => {
    const path = newPath();
    const oldPass = { passphrase: testPassphrase() };
    const ks = await createKeystore(path, oldPass, fast);
    const secrets = new Map<string, Uint8Array>();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const s = feKey();
        const mac = `24:0a:c4:00:00:${i.toString(16).padStart(2, '0')}`;
        secrets.set(mac, s);
        return ks.put({ deviceId: `dev-${i}`, mac, kind: 'flash-encryption-key', secret: s });
      }),
    );
    const newPass = { passphrase: testPassphrase() };
    expect(await ks.rotateMasterKey(newPass)).toBe(20);
    await expect(openKeystore(path, oldPass)).rejects.toMatchObject({ code: 'certs.keystore.bad_passphrase' });
    const reopened = await openKeystore(path, newPass);
    for (const [mac, s] of secrets) expect(reopened.get({ mac }, 'flash-encryption-key').secret).toEqual(s);
    const keyFile = join(tmp.path, 'master.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    await reopened.rotateMasterKey({ keyFile });
    const byFile = await openKeystore(path, { keyFile });
    expect(byFile.list()).toHaveLength(20);
    await expect(openKeystore(path, newPass)).rejects.toMatchObject({ code: 'certs.keystore.wrong_secret_kind' });
    const otherKey = join(tmp.path, 'other.key');
    writeFileSync(otherKey, randomBytes(32));
    await expect(openKeystore(path, { keyFile: otherKey })).rejects.toMatchObject({ code: 'certs.keystore.bad_passphrase' });
  });

  it('notices another writer instead of overwriting its records', async () => {
    const path = newPath();
    const pass = { passphrase: testPassphrase() };
    await createKeystore(path, pass, fast);
    const a = await openKeystore(path, pass);
    const b = await openKeystore(path, pass);
    await a.put({ deviceId: 'dev-a', mac: '24:0a:c4:00:00:0a', kind: 'flash-encryption-key', secret: feKey() });
    await expect(b.put({ deviceId: 'dev-b', mac: '24:0a:c4:00:00:0b', kind: 'flash-encryption-key', secret: feKey() })).rejects.toMatchObject({
      code: 'certs.keystore.changed_on_disk',
    });
    expect((await openKeystore(path, pass)).list().map((e) => e.deviceId)).toEqual(['dev-a']);
  });
});
