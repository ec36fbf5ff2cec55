// The CA hierarchy and leaf profiles, checked by openssl as an independent oracle.
import { createPublicKey, scryptSync, X509Certificate } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOk, openssl } from '../../scripts/lib/oracles.ts';
import {
  BACKDATE_MS, CA_FILES, initCa, issueClientCert, issueDeviceCert, issueServerCert, listIssued, openCa, type Ca,
} from '../index.ts';
import { caPerFile, fixedClock, seededRandom, tempDir, testPassphrase, writeTemp } from './helpers.ts';

const fixture = caPerFile();
const { caDir, passphrase } = fixture;
const tmp = { path: fixture.tmp };
let ca: Ca;
beforeAll(() => void (ca = fixture.ca));

async function verifyChain(certPem: string, purpose: string): Promise<string> {
  const certFile = writeTemp(tmp.path, `leaf-${Math.random()}.pem`, certPem);
  const r = await openssl(['verify', '-CAfile', join(caDir, 'root.pem'), '-untrusted', join(caDir, 'intermediate.pem'), '-purpose', purpose, certFile]);
  return `${r.code} ${r.stdout}${r.stderr}`;
}

async function text(pem: string): Promise<string> {
  return expectOk(await openssl(['x509', '-noout', '-text'], { input: pem }), 'openssl x509 -text');
}

describe('CA hierarchy', () => {
  it('creates a root and an issuing intermediate with CA extensions, keys encrypted at rest', async () => {
    const root = await text(ca.rootCertPem);
    expect(root).toMatch(/CA:TRUE, pathlen:1/);
    expect(root).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const inter = await text(ca.intermediateCertPem);
    expect(inter).toMatch(/CA:TRUE, pathlen:0/);
    expect(inter).toMatch(/Authority Key Identifier/);
    expect(inter).toMatch(/Subject Key Identifier/);
    const v = expectOk(await openssl(['verify', '-CAfile', join(caDir, 'root.pem'), join(caDir, 'intermediate.pem')]), 'verify');
    expect(v).toMatch(/: OK/);
    const kdf = JSON.parse(readFileSync(join(caDir, CA_FILES.meta), 'utf8')).keyKdf;
    expect(kdf).toMatchObject({ name: 'scrypt', N: 32768, r: 8, p: 1 });
    const stretched = scryptSync(passphrase, Buffer.from(kdf.salt, 'hex'), 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 64 << 20 }).toString('hex');
    for (const key of [CA_FILES.rootKey, CA_FILES.intermediateKey]) {
      const pem = readFileSync(join(caDir, key), 'utf8');
      expect(pem).toMatch(/BEGIN ENCRYPTED PRIVATE KEY/);
      expect(statSync(join(caDir, key)).mode & 0o777).toBe(0o600);
      // openssl opens it with the scrypt-stretched passphrase (on stdin, never argv), not the raw one.
      const r = await openssl(['pkey', '-in', join(caDir, key), '-passin', 'stdin', '-noout'], { input: `${stretched}\n` });
      expect(r.code, r.stderr).toBe(0);
      const raw = await openssl(['pkey', '-in', join(caDir, key), '-passin', 'stdin', '-noout'], { input: `${passphrase}\n` });
      expect(raw.code).not.toBe(0);
    }
  });

  it('refuses a wrong passphrase with certs.ca.bad_passphrase', () => {
    expect(() => openCa(caDir, `${passphrase}x`)).toThrow(expect.objectContaining({ code: 'certs.ca.bad_passphrase' }));
  });

  it('refuses a short passphrase and an unknown key type', async () => {
    await expect(initCa({ dir: join(tmp.path, 'weak'), passphrase: 'short' })).rejects.toMatchObject({ code: 'certs.ca.weak_passphrase' });
    await expect(initCa({ dir: join(tmp.path, 'dsa'), passphrase, keyType: 'dsa' as never })).rejects.toMatchObject({ code: 'certs.ca.bad_key_type' });
  });

  it('refuses to create a CA over an existing one', async () => {
    await expect(initCa({ dir: caDir, passphrase })).rejects.toMatchObject({ code: 'certs.ca.exists' });
  });
});

describe('device certificates', () => {
  it('issue a clientAuth-only leaf with a 128-bit serial that openssl verifies', async () => {
    const dev = await issueDeviceCert(ca, { cn: 'esp32_0A1B2C' });
    expect(await verifyChain(dev.certPem, 'sslclient')).toMatch(/^0 .*: OK/);
    expect(await verifyChain(dev.certPem, 'sslserver')).not.toMatch(/^0 /);
    const t = await text(dev.certPem);
    expect(t).toMatch(/Subject: CN ?= ?esp32_0A1B2C/);
    expect(t).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Client Authentication\n/);
    expect(t).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(t).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(t).toMatch(/X509v3 Subject Key Identifier/);
    expect(t).toMatch(/X509v3 Authority Key Identifier/);
    expect(t).toMatch(/Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/);
    const serialLine = /Serial Number:\s*\n\s*([0-9a-f:]+)/.exec(t)?.[1] ?? '';
    expect(serialLine.split(':')).toHaveLength(16);
    expect(serialLine.replace(/:/g, '')).toBe(dev.serialHex);
    const fp = expectOk(await openssl(['x509', '-noout', '-fingerprint', '-sha256'], { input: dev.certPem }), 'fingerprint');
    expect(fp.split('=')[1]?.trim().replace(/:/g, '').toLowerCase()).toBe(dev.fingerprintSha256);
    // The returned key belongs to the certificate.
    const certKey = new X509Certificate(dev.certPem).publicKey.export({ type: 'spki', format: 'der' });
    expect(createPublicKey(dev.privateKeyPem).export({ type: 'spki', format: 'der' })).toEqual(certKey);
    expect(dev.chainPem).toBe(dev.certPem + ca.intermediateCertPem);
  });

  it('never write the device key to disk (DESIGN.md invariant 1)', async () => {
    const before = new Set(readdirSync(caDir));
    const dev = await issueDeviceCert(ca, { cn: 'no-disk-1' });
    const keyBody = dev.privateKeyPem.split('\n')[1] ?? '';
    expect(keyBody.length).toBeGreaterThan(40);
    expect([...readdirSync(caDir)].filter((f) => !before.has(f))).toEqual([]);
    for (const f of readdirSync(caDir)) expect(readFileSync(join(caDir, f), 'utf8')).not.toContain(keyBody);
  });

  it('takes serials and dates from the injected random and clock', async () => {
    const ref = tempDir();
    try {
      const { clock } = fixedClock('2030-01-15T12:00:00.000Z');
      const local = await initCa({ dir: join(ref.path, 'ca'), passphrase, clock, random: () => new Uint8Array(16).fill(0x11) });
      const dev = await issueDeviceCert(local, { cn: 'dev-1', days: 30 });
      expect(dev.serialHex).toBe('51' + '11'.repeat(15));
      expect(dev.notBefore.toISOString()).toBe(new Date(Date.parse('2030-01-15T12:00:00Z') - BACKDATE_MS).toISOString());
      expect(dev.notAfter.toISOString()).toBe('2030-02-14T12:00:00.000Z');
      const t = await text(dev.certPem);
      expect(t).toMatch(/Not Before: Jan 15 11:55:00 2030 GMT/);
      expect(t).toMatch(/Not After : Feb 14 12:00:00 2030 GMT/);
      const explicit = await issueDeviceCert(local, { cn: 'dev-2', notBefore: new Date('2030-01-01T00:00:00Z'), days: 0.5 });
      expect(explicit.notAfter.toISOString()).toBe('2030-01-01T12:00:00.000Z');
      // Same seed, same serials: a failing run can be replayed exactly.
      const serials = await Promise.all(
        ['s1', 's2'].map(async (name) => {
          const seeded = await initCa({ dir: join(ref.path, name), passphrase, clock, random: seededRandom(7) });
          return (await issueDeviceCert(seeded, { cn: 'dev-1' })).serialHex;
        }),
      );
      expect(serials[0]).toBe(serials[1]);
    } finally {
      ref.cleanup();
    }
  });

  it('rejects device ids that could escape the ACL or collide with role identities', async () => {
    for (const cn of ['', 'a/b', 'dev+1', '#', 'operator:alice', 'renewer:x', ' dev', 'x'.repeat(65), '-lead']) {
      await expect(issueDeviceCert(ca, { cn })).rejects.toMatchObject({ code: 'certs.device.bad_id' });
    }
  });

  it('are recorded durably and survive reopening; a torn last line is dropped', async () => {
    const dev = await issueDeviceCert(ca, { cn: 'persisted-1' });
    appendFileSync(join(caDir, CA_FILES.index), '{"op":"issue","serialHex":"dead');
    const again = openCa(caDir, passphrase);
    const rec = again.index.get(dev.serialHex);
    expect(rec).toMatchObject({ cn: 'persisted-1', role: 'device', status: 'valid', fingerprintSha256: dev.fingerprintSha256 });
    expect(readFileSync(join(caDir, CA_FILES.index), 'utf8').endsWith('\n')).toBe(true);
  });

  it('issues many in parallel with every record on disk', async () => {
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => issueDeviceCert(ca, { cn: `par-${i}` })));
    expect(new Set(all.map((d) => d.serialHex)).size).toBe(50);
    const reopened = openCa(caDir, passphrase);
    for (const d of all) expect(reopened.index.get(d.serialHex)?.status).toBe('valid');
  });
});

describe('server and client certificates', () => {
  it('issue a serverAuth certificate with DNS and IP SANs', async () => {
    const srv = await issueServerCert(ca, { dns: ['mqtt.example.com', 'localhost'], ip: ['127.0.0.1', '2001:db8::1'] });
    expect(await verifyChain(srv.certPem, 'sslserver')).toMatch(/^0 .*: OK/);
    const t = await text(srv.certPem);
    expect(t).toMatch(/TLS Web Server Authentication\n/);
    expect(t).toMatch(/DNS:mqtt.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1/);
    await expect(issueServerCert(ca, { dns: [], ip: [] })).rejects.toMatchObject({ code: 'certs.server.no_names' });
    await expect(issueServerCert(ca, { dns: ['bad name'], ip: [] })).rejects.toMatchObject({ code: 'certs.server.bad_dns' });
    await expect(issueServerCert(ca, { dns: [], ip: ['300.1.1.1'] })).rejects.toMatchObject({ code: 'certs.server.bad_ip' });
  });

  it('issue operator and renewer identities with prefixed CNs', async () => {
    const op = await issueClientCert(ca, { role: 'operator', name: 'alice' });
    expect(op.cn).toBe('operator:alice');
    expect(await text(op.certPem)).toMatch(/Subject: CN ?= ?operator:alice/);
    expect(await verifyChain(op.certPem, 'sslclient')).toMatch(/^0 .*: OK/);
    const rn = await issueClientCert(ca, { role: 'renewer', name: 'renewd-1' });
    expect(ca.index.get(rn.serialHex)).toMatchObject({ cn: 'renewer:renewd-1', role: 'renewer' });
  });
});

describe('RSA CAs', () => {
  it('an rsa-2048 CA issues EC device certificates openssl verifies', async () => {
    const ref = tempDir();
    try {
      const rsa = await initCa({ dir: join(ref.path, 'ca'), passphrase, keyType: 'rsa-2048' });
      const dev = await issueDeviceCert(rsa, { cn: 'rsa-dev' });
      const f = writeTemp(ref.path, 'dev.pem', dev.certPem);
      const r = await openssl(['verify', '-CAfile', join(ref.path, 'ca', 'root.pem'), '-untrusted', join(ref.path, 'ca', 'intermediate.pem'), f]);
      expect(r.stdout).toMatch(/: OK/);
      expect(await text(rsa.intermediateCertPem)).toMatch(/Signature Algorithm: sha256WithRSAEncryption[\s\S]*RSA Public-Key: \(2048 bit\)|Public-Key: \(2048 bit\)/);
    } finally {
      ref.cleanup();
    }
  });
});

describe('listing', () => {
  it('lists certificates expiring within a window', async () => {
    const ref = tempDir();
    try {
      const c = fixedClock('2031-03-01T00:00:00Z');
      const local = await initCa({ dir: join(ref.path, 'ca'), passphrase, clock: c.clock });
      await issueDeviceCert(local, { cn: 'short', days: 10 });
      await issueDeviceCert(local, { cn: 'long', days: 100 });
      expect(listIssued(local, { expiringWithinDays: 30 }).map((r) => r.cn)).toEqual(['short']);
      expect(listIssued(local).map((r) => r.cn)).toEqual(['short', 'long']);
      c.set('2031-04-01T00:00:00Z');
      expect(listIssued(local, { expiringWithinDays: 30 }).map((r) => r.cn)).toEqual([]);
      expect(listIssued(local).find((r) => r.cn === 'short')?.expired).toBe(true);
    } finally {
      ref.cleanup();
    }
  });
});

