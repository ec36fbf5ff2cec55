// `ca client-cert --p12`: the PKCS#12 file (certs/pkcs12.ts) as OpenSSL reads it — MAC,
// PBES2-shrouded EC key, the chain — and refused with a wrong passphrase.
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openssl, oracleAvailable } from '../../scripts/lib/oracles.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { issueClientCert } from '../index.ts';
import { buildPkcs12, pkcs12Kdf } from '../pkcs12.ts';
import { caPerFile } from './helpers.ts';

const fixture = caPerFile();
const needsOpenssl = !oracleAvailable('openssl') && process.env.CI !== 'true';

describe.skipIf(needsOpenssl)('ca client-cert --p12 (checked by openssl pkcs12)', () => {
  it('writes a PKCS#12 that openssl opens with the passphrase: MAC sha256, PBES2 AES-256-CBC key bag, the chain; the key is the certificate\'s', async () => {
    const dir = fixture.tmp;
    writeFileSync(join(dir, 'ca.pass'), `${fixture.passphrase}\n`, { mode: 0o600 });
    const p12Pass = randomBytes(15).toString('base64');
    writeFileSync(join(dir, 'p12.pass'), `${p12Pass}\n`, { mode: 0o600 });
    const out = join(dir, 'bob.p12');
    const r = await espfleet(['ca', 'client-cert', '--ca-dir', fixture.caDir, '--passphrase-file', join(dir, 'ca.pass'), '--role', 'operator', '--name', 'bob',
      '--out-cert', join(dir, 'bob.pem'), '--out-key', join(dir, 'bob.key'), '--p12', out, '--p12-passphrase-file', join(dir, 'p12.pass'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ cn: 'operator:bob', p12: out });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(r.stdout + r.stderr).not.toContain(p12Pass);

    const info = await openssl(['pkcs12', '-info', '-in', out, '-passin', `file:${join(dir, 'p12.pass')}`, '-nodes']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stderr).toMatch(/MAC: sha256, Iteration 10000/);
    expect(info.stderr).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 200000, PRF hmacWithSHA256/);
    expect(info.stderr.match(/Certificate bag/g)).toHaveLength(2);
    expect(info.stdout).toContain('friendlyName: operator:bob');
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(info.stdout)![0];
    const certs = [...info.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)].map((m) => m[0]);
    expect(certs.join('')).toBe(readFileSync(join(dir, 'bob.pem'), 'utf8'));
    const leaf = new X509Certificate(certs[0]!);
    expect(leaf.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(createPublicKey(keyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    writeFileSync(join(dir, 'wrong.pass'), 'not-the-passphrase\n');
    const wrong = await openssl(['pkcs12', '-info', '-in', out, '-passin', `file:${join(dir, 'wrong.pass')}`, '-nodes']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/mac verify error/i);
  }, 60_000);

  it('refuses a short passphrase and a key that is not the certificate\'s', async () => {
    const a = await issueClientCert(fixture.ca, { role: 'operator', name: 'p12-a' });
    const b = await issueClientCert(fixture.ca, { role: 'operator', name: 'p12-b' });
    expect(() => buildPkcs12(a.chainPem, a.privateKeyPem, 'short')).toThrow(expect.objectContaining({ code: 'certs.pkcs12.weak_passphrase' }));
    expect(() => buildPkcs12(a.chainPem, b.privateKeyPem, 'long enough passphrase')).toThrow(expect.objectContaining({ code: 'certs.pkcs12.key_mismatch' }));
  });

  it('pkcs12Kdf: the purpose id changes the key and any length is served (OpenSSL checking the MAC above is the real check)', () => {
    const salt = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Buffer.from(pkcs12Kdf('pw', salt, 3, 1, 32))).not.toEqual(Buffer.from(pkcs12Kdf('pw', salt, 1, 1, 32)));
    expect(pkcs12Kdf('pw', salt, 3, 2, 40)).toHaveLength(40);
  });
});
