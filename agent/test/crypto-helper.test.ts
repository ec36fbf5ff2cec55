// Compiles agent/src/espfleet_crypto.c against the host's mbedTLS 2.x (Debian libmbedtls-dev,
// the `cc` oracle) and runs the shared contract (crypto-contract.ts) through it; the CSR is
// checked with openssl and certs/csr.ts, the not-after against `openssl x509 -enddate`, and
// the private key is shown to stay in its file.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCsrPolicy, parseCsr } from '../../certs/csr.ts';
import { fromPem } from '../../certs/pem.ts';
import { ESPFLEET_CRYPTO_MAX_FILE, ESPFLEET_CRYPTO_MAX_PATH, agentCryptoFfi } from '../../hil-tests/mongoose-os/agent-crypto.ts';
import { expectOk, openssl, oracleAvailable, repoRoot, requireOracle, run } from '../../scripts/lib/oracles.ts';
import {
  DEVICE_ID, ESPFLEET_CRYPTO, PHASE1, PHASE1_OUTPUTS, PHASE2, expected, initialFiles, issueForBoard, keyCases, keyReport, makeCas, report, type CryptoCase,
} from './crypto-contract.ts';

const haveCc = oracleAvailable('cc');
const haveOpenssl = oracleAvailable('openssl');
const src = join(repoRoot, 'agent', 'src');

describe.skipIf(!haveCc)('espfleet_crypto.c against mbedTLS 2.x', () => {
  let work: string;
  let board: string;
  let harness: string;
  let phase1: number[] = [];
  let phase2: number[] = [];
  let notAfter: Record<string, number> = {};
  let stdout = '';

  const callAll = async (cases: CryptoCase[]): Promise<number[]> => {
    const input = cases.map((c) => [c.op, ...c.args].join('\t')).join('\n') + '\n';
    const r = await run(harness, [], { cwd: board, input });
    expect(r.code, r.stderr).toBe(0);
    stdout += r.stdout;
    return r.stdout.trim().split('\n').map(Number);
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'espfleet-crypto-c-'));
    board = join(work, 'board');
    harness = join(work, 'harness');
    const cc = await run(requireOracle('cc'), [
      '-std=c99', '-Wall', '-Wextra', '-Wpedantic', '-Werror', '-o', harness,
      join(repoRoot, 'agent', 'test', 'crypto-harness.c'), join(src, 'espfleet_crypto.c'),
      '-lmbedtls', '-lmbedx509', '-lmbedcrypto',
    ]);
    expectOk(cc, 'cc espfleet_crypto.c');
    const cas = await makeCas(work);
    mkdirSync(board);
    for (const [name, data] of Object.entries(initialFiles())) writeFileSync(join(board, name), data);
    phase1 = await callAll(PHASE1);
    notAfter = await issueForBoard(
      { read: (n) => new Uint8Array(readFileSync(join(board, n))), write: (n, d) => writeFileSync(join(board, n), d) },
      cas,
    );
    phase2 = await callAll(PHASE2);
  });

  it('verifies P-256 signatures and fingerprints keys as the double does (phase 3: cmd/keys)', async () => {
    const cases = keyCases();
    const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
    const input = cases.map((c) => [c.op, ...c.args.map(hex)].join('\t')).join('\n') + '\n';
    const r = await run(harness, [], { cwd: board, input });
    expect(r.code, r.stderr).toBe(0);
    const fromC = r.stdout.trim().split('\n').map((l) => (l.startsWith('fp:') ? l.slice(3) : Number(l)));
    const ffi = agentCryptoFfi({ exists: () => false, read: () => new Uint8Array(), write: () => {} });
    const fromDouble = cases.map((c) => (c.op === 'verify' ? ffi.espfleet_p256_verify?.(...c.args) : ffi.espfleet_key_fp?.(...c.args)) as number | string);
    const want = cases.map((c) => c.expect);
    expect(keyReport(cases, fromC)).toEqual(keyReport(cases, want));
    expect(keyReport(cases, fromDouble)).toEqual(keyReport(cases, want));
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the header defines the return codes the double uses', () => {
    const header = readFileSync(join(src, 'espfleet_crypto.h'), 'utf8');
    const defined = Object.fromEntries(
      [...header.matchAll(/^#define ESPFLEET_CRYPTO_(OK|E_\w+) \(?(-?\d+)\)?$/gm)].map((m) => [m[1], Number(m[2])]),
    );
    expect(defined).toEqual({ ...ESPFLEET_CRYPTO });
    expect(header).toMatch(new RegExp(`^#define ESPFLEET_CRYPTO_MAX_FILE ${ESPFLEET_CRYPTO_MAX_FILE}$`, 'm'));
    expect(header).toMatch(new RegExp(`^#define ESPFLEET_CRYPTO_MAX_PATH ${ESPFLEET_CRYPTO_MAX_PATH}$`, 'm'));
  });

  it('keeps big buffers off the stack (an ffi call runs on the 8 KiB Mongoose OS task stack)', async () => {
    const obj = join(work, 'stack.o');
    expectOk(await run(requireOracle('cc'), ['-std=c99', '-c', '-fstack-usage', '-o', obj, join(src, 'espfleet_crypto.c')]), 'cc -fstack-usage');
    const frames = readFileSync(join(work, 'stack.su'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
    rmSync(obj);
    rmSync(join(work, 'stack.su'));
    expect(frames.filter(([fn]) => fn?.split(':').at(-1)?.startsWith('espfleet_')).length).toBe(6);
    // Host (x86-64) frame sizes; on the 32-bit ESP32 they are smaller. mbedTLS's own frames come on top.
    for (const [fn, bytes] of frames) expect(Number(bytes), fn).toBeLessThanOrEqual(2048);
  });

  it('returns the contract codes (phase 1: keys and CSRs)', () => {
    expect(report(PHASE1, phase1)).toEqual(report(PHASE1, PHASE1.map((c) => expected(c, notAfter))));
  });

  it('returns the contract codes (phase 2: notAfter and matches)', () => {
    expect(report(PHASE2, phase2)).toEqual(report(PHASE2, PHASE2.map((c) => expected(c, notAfter))));
  });

  it('writes a SEC1 P-256 key file and a CSR that certs/csr.ts accepts for the device id', () => {
    const keyPem = readFileSync(join(board, 'key.pem'), 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const csr = parseCsr(readFileSync(join(board, 'req.pem'), 'utf8'));
    checkCsrPolicy(csr, DEVICE_ID);
    expect(csr.signatureOid).toBe('1.2.840.10045.4.3.2');
    expect(Buffer.from(csr.spki)).toEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    checkCsrPolicy(parseCsr(readFileSync(join(board, 'long-cn.pem'), 'utf8')), 'a'.repeat(64));
  });

  it.skipIf(!haveOpenssl)('writes a CSR that openssl verifies, with CN and the P-256 key of key.pem', async () => {
    const req = join(board, 'req.pem');
    const verify = await openssl(['req', '-in', req, '-verify', '-noout', '-subject']);
    expectOk(verify, 'openssl req -verify');
    expect(verify.stdout + verify.stderr).toMatch(/verify OK/i);
    expect(verify.stdout).toMatch(new RegExp(`CN\\s*=\\s*${DEVICE_ID}\\s*$`, 'm'));
    const csrPub = expectOk(await openssl(['req', '-in', req, '-noout', '-pubkey']), 'openssl req -pubkey');
    const keyPub = expectOk(await openssl(['pkey', '-in', join(board, 'key.pem'), '-pubout']), 'openssl pkey -pubout');
    expect(csrPub).toBe(keyPub);
    const text = expectOk(await openssl(['pkey', '-pubin', '-noout', '-text'], { input: csrPub }), 'openssl pkey -text');
    expect(text).toMatch(/ASN1 OID: prime256v1/);
    expect(text).toMatch(/NIST CURVE: P-256/);
  });

  it('writes the same CertificationRequestInfo bytes as the double for the same key and CN', () => {
    const files = new Map<string, Uint8Array>([['key.pem', new Uint8Array(readFileSync(join(board, 'key.pem')))]]);
    const ffi = agentCryptoFfi({ exists: (p) => files.has(p), read: (p) => files.get(p) as Uint8Array, write: (p, d) => void files.set(p, d) });
    expect(ffi.espfleet_csr?.('key.pem', DEVICE_ID, 'req.pem')).toBe(ESPFLEET_CRYPTO.OK);
    const fromDouble = parseCsr(new TextDecoder().decode(files.get('req.pem')));
    const fromC = parseCsr(readFileSync(join(board, 'req.pem'), 'utf8'));
    expect(Buffer.from(fromDouble.info).toString('hex')).toBe(Buffer.from(fromC.info).toString('hex'));
    expect(fromDouble.signatureOid).toBe(fromC.signatureOid);
  });

  it.skipIf(!haveOpenssl)('reads the notAfter openssl reads', async () => {
    for (const [file, caseIndex] of [['cert.pem', 0], ['long.pem', 2], ['foreign.pem', 3]] as const) {
      const out = expectOk(await openssl(['x509', '-in', join(board, file), '-noout', '-enddate']), 'openssl x509 -enddate');
      const date = /notAfter=(.+)/.exec(out)?.[1] ?? '';
      expect(phase2[caseIndex], file).toBe(Date.parse(date) / 1000);
    }
  });

  it('keeps the private key in its file: no other file, no output and no CSR holds it', () => {
    expect(readdirSync(board).sort()).toEqual(
      [...Object.keys(initialFiles()), ...PHASE1_OUTPUTS, 'cert.pem', 'chain.pem', 'long.pem', 'other-cert.pem', 'foreign.pem', 'foreign-chain.pem', 'ca.pem', 'ca-chain.pem', 'ca-other.pem'].sort(),
    );
    expect(readdirSync(work).sort()).toEqual(['board', 'ca-other', 'ca-ours', 'harness']);
    expect(stdout).toMatch(/^(-?\d+\n)+$/);
    for (const keyFile of ['key.pem', 'other.pem']) {
      const d = Buffer.from(createPrivateKey(readFileSync(join(board, keyFile), 'utf8')).export({ format: 'jwk' }).d ?? '', 'base64url');
      expect(d.length).toBe(32);
      for (const name of readdirSync(board)) {
        if (name === keyFile) continue;
        const bytes = readFileSync(join(board, name));
        const ders = name.endsWith('.pem') && bytes.includes('-----BEGIN') ? [fromPemAny(bytes.toString('latin1'))] : [];
        for (const blob of [bytes, ...ders.flat()]) expect(blob.includes(d), `${keyFile}'s scalar in ${name}`).toBe(false);
        if (!['key.pem', 'other.pem', 'rsa.pem', 'p384.pem'].includes(name)) expect(bytes.toString('latin1')).not.toMatch(/PRIVATE KEY/);
      }
      expect(Buffer.from(stdout).includes(d)).toBe(false);
    }
  });
});

/** The DER of every PEM block in a file, whatever its label. */
function fromPemAny(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g)].map((m) => Buffer.from(fromPem(m[0], m[1] as string, 'a board file')));
}
