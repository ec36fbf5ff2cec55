// The contract of the agent's crypto helper (agent/src/espfleet_crypto.h), as one table both
// implementations run: the C over mbedTLS (crypto-helper.test.ts) and the Mongoose OS
// double's ffi table (hil-tests/test/agent-crypto-ffi.test.ts). Same files, same calls,
// same return codes, so the two cannot drift.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { initCa, type Ca } from '../../certs/ca.ts';
import { signCsr } from '../../certs/csr.ts';
import { ESPFLEET_CRYPTO } from '../../hil-tests/mongoose-os/agent-crypto.ts';

export { ESPFLEET_CRYPTO };
const C = ESPFLEET_CRYPTO;

export type CryptoOp = 'keygen' | 'csr' | 'not_after' | 'matches';

export interface CryptoCase {
  why: string;
  op: CryptoOp;
  args: string[];
  /** A return code, or the notAfter (Unix seconds) of the certificate file the host issued. */
  expect: number | { notAfterOf: string };
}

export const DEVICE_ID = 'dev-001';

/** The files a board holds before the calls: none of them made by the helper. */
export function initialFiles(): Record<string, Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  return {
    'garbage.pem': text('not a key or a certificate\n'),
    'empty.pem': new Uint8Array(0),
    // ESPFLEET_CRYPTO_MAX_FILE (8192) bytes is read (and fails to parse); one more is an I/O error.
    'max.pem': new Uint8Array(8192).fill(0x41),
    'big.pem': new Uint8Array(8193).fill(0x41),
    'rsa.pem': text(rsa.export({ type: 'pkcs8', format: 'pem' }) as string),
    'p384.pem': text(p384.export({ type: 'sec1', format: 'pem' }) as string),
  };
}

/** Phase 1 on the board: keys and CSRs. */
export const PHASE1: CryptoCase[] = [
  { why: 'a new key', op: 'keygen', args: ['key.pem'], expect: C.OK },
  { why: 'never over an existing key', op: 'keygen', args: ['key.pem'], expect: C.E_EXISTS },
  { why: 'never over any existing file', op: 'keygen', args: ['garbage.pem'], expect: C.E_EXISTS },
  { why: 'empty path', op: 'keygen', args: [''], expect: C.E_ARG },
  { why: 'path over ESPFLEET_CRYPTO_MAX_PATH', op: 'keygen', args: ['k'.repeat(257)], expect: C.E_ARG },
  { why: 'cannot write (no such directory)', op: 'keygen', args: ['nodir/key.pem'], expect: C.E_IO },
  { why: 'a second key', op: 'keygen', args: ['other.pem'], expect: C.OK },
  { why: 'CSR for the device id', op: 'csr', args: ['key.pem', DEVICE_ID, 'req.pem'], expect: C.OK },
  { why: 'CSR with the other key', op: 'csr', args: ['other.pem', DEVICE_ID, 'other-req.pem'], expect: C.OK },
  { why: 'CSR over an existing output', op: 'csr', args: ['key.pem', DEVICE_ID, 'again.pem'], expect: C.OK },
  { why: 'CSR over an existing output (2)', op: 'csr', args: ['key.pem', DEVICE_ID, 'again.pem'], expect: C.OK },
  { why: 'cannot write the CSR (no such directory)', op: 'csr', args: ['key.pem', DEVICE_ID, 'nodir/req.pem'], expect: C.E_IO },
  { why: 'missing key', op: 'csr', args: ['missing.pem', DEVICE_ID, 'x.pem'], expect: C.E_IO },
  { why: 'garbage key', op: 'csr', args: ['garbage.pem', DEVICE_ID, 'x.pem'], expect: C.E_PARSE },
  { why: 'key file of 8192 bytes is read', op: 'csr', args: ['max.pem', DEVICE_ID, 'x.pem'], expect: C.E_PARSE },
  { why: 'key file over 8192 bytes', op: 'csr', args: ['big.pem', DEVICE_ID, 'x.pem'], expect: C.E_IO },
  { why: 'empty key file', op: 'csr', args: ['empty.pem', DEVICE_ID, 'x.pem'], expect: C.E_PARSE },
  { why: 'RSA key', op: 'csr', args: ['rsa.pem', DEVICE_ID, 'x.pem'], expect: C.E_KEY_TYPE },
  { why: 'P-384 key', op: 'csr', args: ['p384.pem', DEVICE_ID, 'x.pem'], expect: C.E_KEY_TYPE },
  { why: 'CN that would add an RDN', op: 'csr', args: ['key.pem', `${DEVICE_ID},O=evil`, 'x.pem'], expect: C.E_ARG },
  { why: 'CN with =', op: 'csr', args: ['key.pem', 'a=b', 'x.pem'], expect: C.E_ARG },
  { why: 'CN with a backslash', op: 'csr', args: ['key.pem', 'a\\b', 'x.pem'], expect: C.E_ARG },
  { why: 'CN starting with -', op: 'csr', args: ['key.pem', '-dev', 'x.pem'], expect: C.E_ARG },
  { why: 'CN of 65 bytes', op: 'csr', args: ['key.pem', 'a'.repeat(65), 'x.pem'], expect: C.E_ARG },
  { why: 'CN of 64 bytes', op: 'csr', args: ['key.pem', 'a'.repeat(64), 'long-cn.pem'], expect: C.OK },
  { why: 'empty CN', op: 'csr', args: ['key.pem', '', 'x.pem'], expect: C.E_ARG },
  { why: 'empty output path', op: 'csr', args: ['key.pem', DEVICE_ID, ''], expect: C.E_ARG },
  { why: 'output path over ESPFLEET_CRYPTO_MAX_PATH, checked first', op: 'csr', args: ['missing.pem', DEVICE_ID, 'o'.repeat(257)], expect: C.E_ARG },
  { why: 'empty key path', op: 'csr', args: ['', DEVICE_ID, 'x.pem'], expect: C.E_ARG },
];

/** Files phase 1 leaves (beside initialFiles); nothing else may appear, not even a .tmp. */
export const PHASE1_OUTPUTS = ['key.pem', 'other.pem', 'req.pem', 'other-req.pem', 'again.pem', 'long-cn.pem'];

/** Phase 2 on the board, after the host issued certificates for its CSRs (issueForBoard). */
export const PHASE2: CryptoCase[] = [
  { why: 'notAfter (UTCTime)', op: 'not_after', args: ['cert.pem'], expect: { notAfterOf: 'cert.pem' } },
  { why: 'notAfter of the first in a chain', op: 'not_after', args: ['chain.pem'], expect: { notAfterOf: 'cert.pem' } },
  { why: 'notAfter past 2050 (GeneralizedTime)', op: 'not_after', args: ['long.pem'], expect: { notAfterOf: 'long.pem' } },
  { why: 'notAfter of an expired one', op: 'not_after', args: ['foreign.pem'], expect: { notAfterOf: 'foreign.pem' } },
  { why: 'notAfter: missing', op: 'not_after', args: ['missing.pem'], expect: C.E_IO },
  { why: 'notAfter: garbage', op: 'not_after', args: ['garbage.pem'], expect: C.E_PARSE },
  { why: 'notAfter: empty file', op: 'not_after', args: ['empty.pem'], expect: C.E_PARSE },
  { why: 'notAfter: 8192 bytes are read', op: 'not_after', args: ['max.pem'], expect: C.E_PARSE },
  { why: 'notAfter: over 8192 bytes', op: 'not_after', args: ['big.pem'], expect: C.E_IO },
  { why: 'notAfter: a key is no certificate', op: 'not_after', args: ['key.pem'], expect: C.E_PARSE },
  { why: 'notAfter: a CSR is no certificate', op: 'not_after', args: ['req.pem'], expect: C.E_PARSE },
  { why: 'notAfter: empty path', op: 'not_after', args: [''], expect: C.E_ARG },

  { why: 'leaf + CA chain file', op: 'matches', args: ['cert.pem', 'key.pem', 'ca-chain.pem'], expect: C.OK },
  { why: 'leaf + intermediate, root CA', op: 'matches', args: ['chain.pem', 'key.pem', 'ca.pem'], expect: C.OK },
  { why: 'long-lived certificate', op: 'matches', args: ['long.pem', 'key.pem', 'ca-chain.pem'], expect: C.OK },
  { why: 'dates are not checked (expired, other CA)', op: 'matches', args: ['foreign-chain.pem', 'key.pem', 'ca-other.pem'], expect: C.OK },
  { why: 'leaf alone does not reach the root', op: 'matches', args: ['cert.pem', 'key.pem', 'ca.pem'], expect: C.E_NOT_TRUSTED },
  { why: 'wrong CA', op: 'matches', args: ['chain.pem', 'key.pem', 'ca-other.pem'], expect: C.E_NOT_TRUSTED },
  { why: 'other CA, our root', op: 'matches', args: ['foreign-chain.pem', 'key.pem', 'ca.pem'], expect: C.E_NOT_TRUSTED },
  { why: 'certificate of another key', op: 'matches', args: ['other-cert.pem', 'key.pem', 'ca-chain.pem'], expect: C.E_KEY_MISMATCH },
  { why: 'key of another certificate', op: 'matches', args: ['chain.pem', 'other.pem', 'ca.pem'], expect: C.E_KEY_MISMATCH },
  { why: 'key is checked before the chain', op: 'matches', args: ['other-cert.pem', 'key.pem', 'ca-other.pem'], expect: C.E_KEY_MISMATCH },
  { why: 'RSA key against an EC certificate', op: 'matches', args: ['chain.pem', 'rsa.pem', 'ca.pem'], expect: C.E_KEY_MISMATCH },
  { why: 'a CA certificate is not ours', op: 'matches', args: ['ca.pem', 'key.pem', 'ca.pem'], expect: C.E_KEY_MISMATCH },
  { why: 'missing certificate', op: 'matches', args: ['missing.pem', 'key.pem', 'ca.pem'], expect: C.E_IO },
  { why: 'missing key', op: 'matches', args: ['cert.pem', 'missing.pem', 'ca.pem'], expect: C.E_IO },
  { why: 'missing CA', op: 'matches', args: ['cert.pem', 'key.pem', 'missing.pem'], expect: C.E_IO },
  { why: 'I/O before parsing', op: 'matches', args: ['garbage.pem', 'key.pem', 'missing.pem'], expect: C.E_IO },
  { why: 'garbage certificate', op: 'matches', args: ['garbage.pem', 'key.pem', 'ca.pem'], expect: C.E_PARSE },
  { why: 'garbage key', op: 'matches', args: ['cert.pem', 'garbage.pem', 'ca.pem'], expect: C.E_PARSE },
  { why: 'CA file over 8192 bytes', op: 'matches', args: ['cert.pem', 'key.pem', 'big.pem'], expect: C.E_IO },
  { why: 'garbage CA', op: 'matches', args: ['cert.pem', 'key.pem', 'garbage.pem'], expect: C.E_PARSE },
  { why: 'a CSR is no certificate', op: 'matches', args: ['req.pem', 'key.pem', 'ca.pem'], expect: C.E_PARSE },
  { why: 'parse errors before the key check', op: 'matches', args: ['other-cert.pem', 'key.pem', 'garbage.pem'], expect: C.E_PARSE },
  { why: 'empty CA path', op: 'matches', args: ['cert.pem', 'key.pem', ''], expect: C.E_ARG },
];

export interface FleetCas {
  /** The fleet CA; its clock sits in 2041 so certificates are "not yet valid" today. */
  ours: Ca;
  /** Another CA whose clock sits in 2001: everything it issues has expired. */
  other: Ca;
}

export async function makeCas(dir: string): Promise<FleetCas> {
  const passphrase = 'contract-passphrase';
  const [ours, other] = await Promise.all([
    initCa({ dir: join(dir, 'ca-ours'), passphrase, clock: () => new Date('2041-06-01T12:00:00Z') }),
    initCa({ dir: join(dir, 'ca-other'), passphrase, clock: () => new Date('2001-03-04T05:06:07Z') }),
  ]);
  return { ours, other };
}

export interface BoardFiles {
  read(name: string): Uint8Array;
  write(name: string, data: Uint8Array): void;
}

/**
 * The host's part between the phases (the renewal service): signs the board's CSRs and
 * puts certificates and CA files on the board. Returns each certificate file's notAfter.
 */
export async function issueForBoard(board: BoardFiles, cas: FleetCas): Promise<Record<string, number>> {
  const text = (s: string) => new TextEncoder().encode(s);
  const pem = (name: string) => new TextDecoder().decode(board.read(name));
  const csr = pem('req.pem');
  const mine = await signCsr(cas.ours, csr, { expectCn: DEVICE_ID });
  const long = await signCsr(cas.ours, csr, { expectCn: DEVICE_ID, days: 3650 }); // until 2051
  const otherKey = await signCsr(cas.ours, pem('other-req.pem'), { expectCn: DEVICE_ID });
  const foreign = await signCsr(cas.other, csr, { expectCn: DEVICE_ID });
  const files: Record<string, string> = {
    'cert.pem': mine.certPem,
    'chain.pem': mine.chainPem,
    'long.pem': long.certPem,
    'other-cert.pem': otherKey.certPem,
    'foreign.pem': foreign.certPem,
    'foreign-chain.pem': foreign.chainPem,
    'ca.pem': cas.ours.rootCertPem,
    'ca-chain.pem': cas.ours.chainPem,
    'ca-other.pem': cas.other.rootCertPem,
  };
  for (const [name, pem] of Object.entries(files)) board.write(name, text(pem));
  const seconds = (d: Date) => d.getTime() / 1000;
  return { 'cert.pem': seconds(mine.notAfter), 'long.pem': seconds(long.notAfter), 'foreign.pem': seconds(foreign.notAfter) };
}

export function expected(c: CryptoCase, notAfter: Record<string, number>): number {
  if (typeof c.expect === 'number') return c.expect;
  const v = notAfter[c.expect.notAfterOf];
  if (v === undefined) throw new Error(`no notAfter recorded for ${c.expect.notAfterOf}`);
  return v;
}

/** `case: result` lines, so a failing expect shows which calls differ. */
export function report(cases: CryptoCase[], results: number[]): string[] {
  return cases.map((c, i) => `${c.op}(${c.args.map((a) => JSON.stringify(a)).join(', ')}) [${c.why}] → ${results[i]}`);
}

/** Phase 3 (issue 21, cmd/keys): ECDSA P-256 verification and key fingerprints, public data only, no files. */
export interface KeyCase {
  why: string;
  op: 'verify' | 'fp';
  /** verify: [spki_b64, msg, sig_b64]; fp: [spki_b64]. */
  args: string[];
  /** verify: a return code; fp: the fingerprint (64 hex or ""). */
  expect: number | string;
}

/** A canonical cmd/keys text (docs/ota-protocol.md "Signing keys"): lines, no trailing newline. */
export const KEYS_TEXT = 'espfleet-keys-v1\ndevice_id=dev-001\nid=k-1\nseq=1\nset1=MFkw\nmask=1';

export function keyCases(): KeyCase[] {
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  const b64 = (k: KeyObject) => spki(k).toString('base64');
  const sig = (k: KeyObject, text: string) => sign('sha256', Buffer.from(text), { key: k, dsaEncoding: 'der' }).toString('base64');
  const key = b64(p256.publicKey);
  const good = sig(p256.privateKey, KEYS_TEXT);
  const fp = createHash('sha256').update(spki(p256.publicKey)).digest('hex');
  const notDer = randomBytes(64).toString('base64');
  return [
    { why: 'signature over the text', op: 'verify', args: [key, KEYS_TEXT, good], expect: C.OK },
    { why: 'signature over an empty text', op: 'verify', args: [key, '', sig(p256.privateKey, '')], expect: C.OK },
    { why: 'signed by another key', op: 'verify', args: [key, KEYS_TEXT, sig(other.privateKey, KEYS_TEXT)], expect: C.E_BAD_SIG },
    { why: 'one byte of the text changed', op: 'verify', args: [key, KEYS_TEXT.replace('seq=1', 'seq=2'), good], expect: C.E_BAD_SIG },
    { why: 'the text with a trailing newline', op: 'verify', args: [key, `${KEYS_TEXT}\n`, good], expect: C.E_BAD_SIG },
    { why: 'signature of 64 random bytes (not DER)', op: 'verify', args: [key, KEYS_TEXT, notDer], expect: C.E_BAD_SIG },
    { why: 'signature not Base64', op: 'verify', args: [key, KEYS_TEXT, '!!!!'], expect: C.E_PARSE },
    { why: 'signature with a line break', op: 'verify', args: [key, KEYS_TEXT, `${good.slice(0, 8)}\n${good.slice(8)}`], expect: C.E_PARSE },
    { why: 'signature without its padding', op: 'verify', args: [key, KEYS_TEXT, good.replace(/=+$/, '')], expect: good.endsWith('=') ? C.E_PARSE : C.OK },
    { why: 'key not Base64', op: 'verify', args: ['not a key', KEYS_TEXT, good], expect: C.E_PARSE },
    { why: 'key is Base64 of no SPKI', op: 'verify', args: [Buffer.from('just some bytes!').toString('base64'), KEYS_TEXT, good], expect: C.E_PARSE },
    { why: 'key over ESPFLEET_CRYPTO_MAX_B64', op: 'verify', args: ['A'.repeat(260), KEYS_TEXT, good], expect: C.E_PARSE },
    { why: 'P-384 key', op: 'verify', args: [b64(p384.publicKey), KEYS_TEXT, sig(p384.privateKey, KEYS_TEXT)], expect: C.E_KEY_TYPE },
    { why: 'RSA key', op: 'verify', args: [b64(rsa.publicKey), KEYS_TEXT, good], expect: C.E_KEY_TYPE },
    { why: 'the key is checked before the signature', op: 'verify', args: [b64(p384.publicKey), KEYS_TEXT, '!!!!'], expect: C.E_KEY_TYPE },
    { why: 'empty key', op: 'verify', args: ['', KEYS_TEXT, good], expect: C.E_ARG },
    { why: 'empty signature', op: 'verify', args: [key, KEYS_TEXT, ''], expect: C.E_ARG },
    { why: 'fingerprint of a P-256 key', op: 'fp', args: [key], expect: fp },
    { why: 'fingerprint of the other key', op: 'fp', args: [b64(other.publicKey)], expect: createHash('sha256').update(spki(other.publicKey)).digest('hex') },
    { why: 'no fingerprint for a P-384 key', op: 'fp', args: [b64(p384.publicKey)], expect: '' },
    { why: 'no fingerprint for garbage', op: 'fp', args: ['not a key'], expect: '' },
    { why: 'no fingerprint for a key without padding', op: 'fp', args: [key.replace(/=+$/, '')], expect: key.endsWith('=') ? '' : fp },
    { why: 'no fingerprint for ""', op: 'fp', args: [''], expect: '' },
  ];
}

/** `case: result` lines for phase 3. */
export function keyReport(cases: KeyCase[], results: Array<number | string>): string[] {
  return cases.map((c, i) => `${c.op} [${c.why}] → ${JSON.stringify(results[i])}`);
}
