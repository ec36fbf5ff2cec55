// The device-secret keystore: round trips, distinct errors for a wrong passphrase
// and for tampering, crash safety of the durable write, and master-key rotation.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeystore, openKeystore } from '../index.ts';
import { deriveKeys, hmacHex, newKdfParams, seal, type KeystoreSecret } from '../keystore-crypto.ts';
import { tempDir, testPassphrase } from './helpers.ts';

const tmp = tempDir('espfleet-keystore-');
afterAll(() => tmp.cleanup());
// Cheap scrypt for tests; the default cost is exercised by the CLI tests.
const fast = { scrypt: { N: 1 << 12, r: 8, p: 1 } };
let n = 0;
const newPath = () => join(tmp.path, `ks-${n++}.json`);
const feKey = () => new Uint8Array(randomBytes(32));

/** A keystore file as an espfleet before the unified device id wrote it: records under `esp32-<12 hex>`. */
async function oldKeystore(path: string, secret: KeystoreSecret, records: Array<{ deviceId: string; mac: string; secret: Uint8Array }>): Promise<void> {
  const kdf = newKdfParams(secret, fast.scrypt);
  const keys = await deriveKeys(secret, kdf);
  const createdAt = '2026-06-01T00:00:00.000Z';
  const stored = records.map((r) => {
    const entry = { deviceId: r.deviceId, mac: r.mac, kind: 'flash-encryption-key', createdAt };
    return { ...entry, ...seal(keys.encKey, r.secret, JSON.stringify(['espfleet-keystore v1', r.deviceId, r.mac, entry.kind, createdAt, null])) };
  });
  const file = { format: 'espfleet-keystore', version: 1, kdf, keyCheck: keys.keyCheck, records: stored };
  writeFileSync(path, JSON.stringify({ ...file, mac: hmacHex(keys.macKey, JSON.stringify({ ...file, mac: undefined })) }), { mode: 0o600 });
}

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

  it('a keystore written under the old esp32-<12 hex> ids answers to the station id esp32_<6 hex>', async () => {
    const path = newPath();
    const pass = { passphrase: testPassphrase() };
    const k1 = feKey();
    const k2 = feKey();
    await oldKeystore(path, pass, [
      { deviceId: 'esp32-240ac4123456', mac: '24:0a:c4:12:34:56', secret: k1 },
      { deviceId: 'line3-board', mac: '24:0a:c4:00:00:02', secret: k2 },
    ]);
    const ks = await openKeystore(path, pass, fast);
    // Found by the id the station gives the board, and by the old id still.
    expect(ks.get({ deviceId: 'esp32_123456' }, 'flash-encryption-key').secret).toEqual(k1);
    expect(ks.get({ deviceId: 'esp32-240ac4123456' }, 'flash-encryption-key')).toMatchObject({ deviceId: 'esp32_123456', secret: k1 });
    expect(ks.list().map((e) => e.deviceId)).toEqual(['esp32_123456', 'line3-board']);
    // The station re-escrowing the same key under its id is a retry, not a conflict; another key is refused.
    await expect(ks.put({ deviceId: 'esp32_123456', mac: '24:0a:c4:12:34:56', kind: 'flash-encryption-key', secret: k1 })).resolves.toMatchObject({ deviceId: 'esp32_123456' });
    await expect(ks.put({ deviceId: 'esp32_123456', mac: '24:0a:c4:12:34:56', kind: 'flash-encryption-key', secret: feKey() })).rejects.toMatchObject({ code: 'certs.keystore.conflict' });
    expect(ks.list()).toHaveLength(2);
    // A rotation re-seals every record, and writes the old ids in their canonical form.
    const next = { passphrase: testPassphrase() };
    await ks.rotateMasterKey(next);
    expect(readFileSync(path, 'utf8')).not.toContain('esp32-240ac4123456');
    expect((await openKeystore(path, next)).get({ deviceId: 'esp32_123456' }, 'flash-encryption-key').secret).toEqual(k1);
  });

  it('new records are stored under the canonical id even when given the old form', async () => {
    const path = newPath();
    const ks = await createKeystore(path, { passphrase: testPassphrase() }, fast);
    await ks.put({ deviceId: 'esp32-240ac4abcdef', mac: '24:0a:c4:ab:cd:ef', kind: 'flash-encryption-key', secret: feKey() });
    expect(ks.list()[0]?.deviceId).toBe('esp32_ABCDEF');
  });
});
