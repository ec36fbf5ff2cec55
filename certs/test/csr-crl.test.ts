// CSR signing policy and revocation/CRLs, checked with openssl-made CSRs and
// `openssl crl` / `openssl verify -crl_check`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOk, openssl } from '../../scripts/lib/oracles.ts';
import { fromPem, toPem } from '../pem.ts';
import { buildCrl, CRL_FILE, initCa, issueDeviceCert, openCa, revoke, signCsr, type Ca } from '../index.ts';
import { caPerFile, fixedClock, tempDir, testPassphrase, writeTemp } from './helpers.ts';

const fixture = caPerFile();
const { caDir, passphrase } = fixture;
const tmp = { path: fixture.tmp };
let ca: Ca;
beforeAll(() => void (ca = fixture.ca));

async function makeCsr(keyArgs: string[], subject: string, name: string): Promise<string> {
  const key = join(tmp.path, `${name}.key`);
  expectOk(await openssl(['genpkey', ...keyArgs, '-out', key]), 'genpkey');
  return expectOk(await openssl(['req', '-new', '-key', key, '-subj', subject]), 'req -new');
}

describe('signCsr', () => {
  it('signs an EC P-256 CSR whose CN is the expected device id', async () => {
    const csr = await makeCsr(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=board-7/O=ignored', 'p256');
    const issued = await signCsr(ca, csr, { expectCn: 'board-7', days: 90 });
    const cert = writeTemp(tmp.path, 'board-7.pem', issued.certPem);
    const v = await openssl(['verify', '-CAfile', join(caDir, 'root.pem'), '-untrusted', join(caDir, 'intermediate.pem'), '-purpose', 'sslclient', cert]);
    expect(v.stdout).toMatch(/: OK/);
    const t = expectOk(await openssl(['x509', '-noout', '-text', '-in', cert]), 'x509');
    expect(t).toMatch(/Subject: CN ?= ?board-7\n/); // only the CN, the profile decides the subject
    // The certificate carries the CSR's key.
    const csrKey = expectOk(await openssl(['req', '-noout', '-pubkey'], { input: csr }), 'req -pubkey');
    const certKey = expectOk(await openssl(['x509', '-noout', '-pubkey', '-in', cert]), 'x509 -pubkey');
    expect(certKey).toBe(csrKey);
  });

  it('signs an RSA-2048 CSR', async () => {
    const csr = await makeCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], '/CN=rsa-board', 'rsa2048');
    await expect(signCsr(ca, csr, { expectCn: 'rsa-board' })).resolves.toMatchObject({ serialHex: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it('refuses a CN mismatch, naming both values', async () => {
    const csr = await makeCsr(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=board-8', 'mismatch');
    const err = await signCsr(ca, csr, { expectCn: 'board-9' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'certs.csr.cn_mismatch', message: expect.stringMatching(/"board-8".*"board-9"/) });
  });

  it('refuses P-384, RSA-1024 and Ed25519 keys', async () => {
    const p384 = await makeCsr(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], '/CN=b', 'p384');
    await expect(signCsr(ca, p384, { expectCn: 'b' })).rejects.toMatchObject({ code: 'certs.csr.key_not_allowed', message: expect.stringMatching(/secp384r1/) });
    const rsa1024 = await makeCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], '/CN=b', 'rsa1024');
    await expect(signCsr(ca, rsa1024, { expectCn: 'b' })).rejects.toMatchObject({ code: 'certs.csr.weak_key', message: expect.stringMatching(/RSA-1024/) });
    const ed = await makeCsr(['-algorithm', 'ED25519'], '/CN=b', 'ed25519');
    await expect(signCsr(ca, ed, { expectCn: 'b' })).rejects.toMatchObject({ code: 'certs.csr.unsupported_signature' });
  });

  it('refuses a CSR altered after signing, and garbage', async () => {
    const csr = await makeCsr(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=board-1', 'tamper');
    const der = Buffer.from(fromPem(csr, 'CERTIFICATE REQUEST', 'csr'));
    const at = der.indexOf('board-1');
    der[at + 6] = '2'.charCodeAt(0); // now claims CN=board-2
    await expect(signCsr(ca, toPem('CERTIFICATE REQUEST', der), { expectCn: 'board-2' })).rejects.toMatchObject({ code: 'certs.csr.bad_signature' });
    await expect(signCsr(ca, 'hello', { expectCn: 'board-2' })).rejects.toMatchObject({ code: 'certs.pem.missing' });
    await expect(signCsr(ca, toPem('CERTIFICATE REQUEST', Uint8Array.of(0x30, 0x05, 1)), { expectCn: 'board-2' })).rejects.toMatchObject({ code: 'certs.csr.malformed' });
  });
});

describe('revocation and CRLs', () => {
  it('revokes by serial and publishes a CRL openssl parses and enforces', async () => {
    const a = await issueDeviceCert(ca, { cn: 'crl-a' });
    const b = await issueDeviceCert(ca, { cn: 'crl-b' });
    const c = await issueDeviceCert(ca, { cn: 'crl-c' });
    await revoke(ca, a.serialHex, 'keyCompromise');
    await revoke(ca, `0x${c.serialHex.toUpperCase()}`);
    await expect(revoke(ca, a.serialHex)).rejects.toMatchObject({ code: 'certs.revoke.already_revoked' });
    await expect(revoke(ca, 'abcd')).rejects.toMatchObject({ code: 'certs.revoke.unknown_serial' });
    const crl = buildCrl(ca, { nextUpdateDays: 3 });
    expect(crl.revokedSerials.sort()).toEqual([a.serialHex, c.serialHex].sort());
    expect(readFileSync(join(caDir, CRL_FILE), 'utf8')).toBe(crl.crlPem);
    const t = expectOk(await openssl(['crl', '-noout', '-text'], { input: crl.crlPem }), 'crl -text');
    expect(t).toMatch(new RegExp(`Serial Number: ${a.serialHex.toUpperCase()}[\\s\\S]*?Key Compromise`));
    expect(t).toMatch(new RegExp(`Serial Number: ${c.serialHex.toUpperCase()}`));
    expect(t).not.toMatch(new RegExp(b.serialHex.toUpperCase()));
    expect(t).toMatch(/X509v3 CRL Number: \s*\n?\s*1\b/);
    expect(t).toMatch(/Issuer: O = espfleet, CN = espfleet Issuing CA 1/);
    // The CRL signature verifies under the issuing CA.
    const crlFile = writeTemp(tmp.path, 'crl.pem', crl.crlPem);
    const check = await openssl(['crl', '-in', crlFile, '-CAfile', join(caDir, 'chain.pem'), '-noout']);
    expect(check.stderr).toMatch(/verify OK/);
    // openssl verify with the CRL: revoked A fails, B passes.
    const verifyWithCrl = async (pem: string) => {
      const f = writeTemp(tmp.path, `v-${Math.random()}.pem`, pem);
      return openssl(['verify', '-crl_check', '-CRLfile', crlFile, '-CAfile', join(caDir, 'root.pem'), '-untrusted', join(caDir, 'intermediate.pem'), f]);
    };
    expect((await verifyWithCrl(a.certPem)).stdout + (await verifyWithCrl(a.certPem)).stderr).toMatch(/certificate revoked/);
    expect((await verifyWithCrl(b.certPem)).stdout).toMatch(/: OK/);
    // CRL numbers increase and are persisted.
    expect(buildCrl(ca).crlNumber).toBe(2);
    expect(buildCrl(openCa(caDir, passphrase)).crlNumber).toBe(3);
  });

  it('dates the CRL from the clock and leaves out expired revoked certificates', async () => {
    const ref = tempDir();
    try {
      const c = fixedClock('2032-06-01T00:00:00Z');
      const local = await initCa({ dir: join(ref.path, 'ca'), passphrase, clock: c.clock });
      const short = await issueDeviceCert(local, { cn: 'short', days: 2 });
      const long = await issueDeviceCert(local, { cn: 'long', days: 200 });
      await revoke(local, short.serialHex, 'superseded');
      await revoke(local, long.serialHex, 'cessationOfOperation');
      c.set('2032-06-10T00:00:00Z');
      const crl = buildCrl(local, { nextUpdateDays: 7 });
      expect(crl.revokedSerials).toEqual([long.serialHex]);
      const t = expectOk(await openssl(['crl', '-noout', '-text'], { input: crl.crlPem }), 'crl');
      expect(t).toMatch(/Last Update: Jun 10 00:00:00 2032 GMT/);
      expect(t).toMatch(/Next Update: Jun 17 00:00:00 2032 GMT/);
      expect(t).toMatch(/Revocation Date: Jun  1 00:00:00 2032 GMT[\s\S]*Cessation Of Operation/);
    } finally {
      ref.cleanup();
    }
  });
});
