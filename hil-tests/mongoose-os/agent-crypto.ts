// The agent's C helper (agent/src/espfleet_crypto.h, issue 14 renewal) as the Mongoose OS
// double serves it: the same ffi names, signatures (mongoose-os.md §5.3) and return codes,
// over node:crypto and certs/ DER code, reading and writing the board's filesystem. Like the
// C, nothing here hands key bytes to mJS: every result is a number.
// agent/test/crypto-contract.ts holds the cases both implementations are held to.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { assertDeviceId } from '../../certs/identity.ts';
import { TAG, children, parseDer, tlv, seq, smallInteger, bitString } from '../../certs/der.ts';
import { encodeName } from '../../certs/extensions.ts';
import { signatureAlgorithm, signDer, spkiDer } from '../../certs/keys.ts';
import { pemBlocks, toPem } from '../../certs/pem.ts';
import type { FfiTable } from '../mjs/ffi.ts';
import { binaryToText, type Value } from '../mjs/values.ts';

/** espfleet_crypto.h's return codes (crypto-helper.test.ts checks the header says the same). */
export const ESPFLEET_CRYPTO = {
  OK: 0,
  E_ARG: -1,
  E_IO: -2,
  E_PARSE: -3,
  E_CRYPTO: -4,
  E_KEY_MISMATCH: -5,
  E_NOT_TRUSTED: -6,
  E_KEY_TYPE: -7,
  E_EXISTS: -8,
  E_BAD_SIG: -9,
} as const;
export type EspfleetCryptoCode = (typeof ESPFLEET_CRYPTO)[keyof typeof ESPFLEET_CRYPTO];

/** ESPFLEET_CRYPTO_MAX_FILE: a larger file is an I/O error, as the C's bounded read makes it. */
export const ESPFLEET_CRYPTO_MAX_FILE = 8192;
/** ESPFLEET_CRYPTO_MAX_PATH: the longest path the helper writes (keygen's key, csr's output). */
export const ESPFLEET_CRYPTO_MAX_PATH = 256;
/** ESPFLEET_CRYPTO_MAX_B64: the longest Base64 key or signature espfleet_p256_verify / espfleet_key_fp take. */
export const ESPFLEET_CRYPTO_MAX_B64 = 256;

/** The `ffi('…')` strings the agent binds. */
export const AGENT_CRYPTO_SIGNATURES = {
  espfleet_keygen: 'int espfleet_keygen(char *)',
  espfleet_csr: 'int espfleet_csr(char *, char *, char *)',
  espfleet_cert_not_after: 'double espfleet_cert_not_after(char *)',
  espfleet_cert_matches: 'int espfleet_cert_matches(char *, char *, char *)',
  espfleet_p256_verify: 'int espfleet_p256_verify(char *, char *, char *)',
  espfleet_key_fp: 'char *espfleet_key_fp(char *)',
} as const;

/** The part of the board's filesystem (RootFs) the helper uses. */
export interface AgentCryptoFs {
  exists(path: string): boolean;
  read(path: string): Uint8Array;
  write(path: string, data: Uint8Array): void;
}

const { OK, E_ARG, E_IO, E_PARSE, E_KEY_MISMATCH, E_NOT_TRUSTED, E_KEY_TYPE, E_EXISTS, E_BAD_SIG } = ESPFLEET_CRYPTO;

/** A `char *` argument as a path or CN; undefined for NULL or "" (E_ARG in the C). */
function arg(v: Value): string | undefined {
  return typeof v === 'string' && v !== '' ? binaryToText(v) : undefined;
}

/** A path the helper writes: also undefined when longer than the C's buffer allows (bytes, as strlen counts). */
function outArg(v: Value): string | undefined {
  return typeof v === 'string' && v.length <= ESPFLEET_CRYPTO_MAX_PATH ? arg(v) : undefined;
}

class Rc {
  constructor(readonly code: number) {}
}

function readFile(fs: AgentCryptoFs, path: string): Uint8Array {
  if (!fs.exists(path)) throw new Rc(E_IO);
  const bytes = fs.read(path);
  if (bytes.length > ESPFLEET_CRYPTO_MAX_FILE) throw new Rc(E_IO);
  return bytes;
}

function writeFile(fs: AgentCryptoFs, path: string, text: string): void {
  try {
    fs.write(path, new TextEncoder().encode(text));
  } catch {
    throw new Rc(E_IO); // a full or failing fs: fopen/fwrite/fclose fail on the board
  }
}

/** What mbedtls_pk_parse_key takes without a password: PEM (SEC1, PKCS#8, PKCS#1) or DER. */
function parseKey(bytes: Uint8Array): KeyObject {
  const buf = Buffer.from(bytes);
  const tries: Parameters<typeof createPrivateKey>[0][] = buf.includes('-----BEGIN')
    ? [{ key: buf, format: 'pem' }]
    : [{ key: buf, format: 'der', type: 'pkcs8' }, { key: buf, format: 'der', type: 'sec1' }, { key: buf, format: 'der', type: 'pkcs1' }];
  for (const t of tries) {
    try {
      return createPrivateKey(t);
    } catch {
      // next form
    }
  }
  throw new Rc(E_PARSE);
}

/**
 * mbedtls_x509_crt_parse: every "CERTIFICATE" PEM block when the file has one, else the
 * file as one DER certificate; the C treats a file with any bad block as unparseable.
 */
function parseCerts(bytes: Uint8Array): { cert: X509Certificate; der: Uint8Array }[] {
  const text = Buffer.from(bytes).toString('latin1');
  const ders = text.includes('-----BEGIN CERTIFICATE-----') ? pemBlocks(text, 'CERTIFICATE') : [bytes];
  if (ders.length === 0) throw new Rc(E_PARSE);
  return ders.map((der) => {
    try {
      parseDer(der); // exactly one TLV, as mbedTLS's DER reader insists
      return { cert: new X509Certificate(Buffer.from(der)), der };
    } catch {
      throw new Rc(E_PARSE);
    }
  });
}

/** Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version?, serial, sigAlg, issuer, validity, … } … } */
function notAfterSeconds(der: Uint8Array): number {
  try {
    const [tbs] = children(parseDer(der));
    const fields = tbs ? children(tbs) : [];
    const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
    const validity = rest[3];
    const end = validity ? children(validity)[1] : undefined;
    if (!end) throw new Rc(E_PARSE);
    return asn1TimeSeconds(end.tag, new TextDecoder('latin1').decode(end.value));
  } catch (e) {
    if (e instanceof Rc) throw e;
    throw new Rc(E_PARSE);
  }
}

/** UTCTime YYMMDDHHMMSSZ (YY < 50 is 20YY, RFC 5280) or GeneralizedTime YYYYMMDDHHMMSSZ. */
function asn1TimeSeconds(tag: number, s: string): number {
  const m =
    tag === TAG.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : tag === TAG.GENERALIZED_TIME ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (!m) throw new Rc(E_PARSE);
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const year = tag === TAG.UTC_TIME ? (y < 50 ? 2000 + y : 1900 + y) : y;
  return Date.UTC(year, mo - 1, d, h, mi, sec) / 1000;
}

/** As mbedTLS's chain builder: parent is a CA, names and key ids line up, and its key verifies the signature. */
function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
}

function chains(certs: X509Certificate[], trusted: X509Certificate[]): boolean {
  const [leaf, ...intermediates] = certs;
  if (!leaf) return false;
  if (trusted.some((t) => t.raw.equals(leaf.raw))) return true;
  let current = leaf;
  const used = new Set<X509Certificate>([leaf]);
  // mbedTLS's MBEDTLS_X509_MAX_INTERMEDIATE_CA is 8.
  for (let depth = 0; depth <= 8; depth++) {
    if (trusted.some((t) => issuedBy(current, t))) return true;
    const next = intermediates.find((c) => !used.has(c) && issuedBy(current, c));
    if (!next) return false;
    used.add(next);
    current = next;
  }
  return false;
}

function spkiEqual(a: KeyObject, b: KeyObject): boolean {
  return Buffer.from(spkiDer(a)).equals(Buffer.from(spkiDer(b)));
}

/** The C's strict Base64 (espfleet_crypto.h): Buffer.from(…, 'base64') alone would skip junk. */
function strictBase64(v: string): Buffer {
  if (v.length === 0 || v.length > ESPFLEET_CRYPTO_MAX_B64 || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new Rc(E_PARSE);
  return Buffer.from(v, 'base64');
}

/** mbedtls_pk_parse_public_key over the DER, then the P-256 check; returns the key and its DER. */
function p256Spki(b64: string): { key: KeyObject; der: Buffer } {
  const der = strictBase64(b64);
  let key: KeyObject;
  try {
    parseDer(der); // one TLV, nothing after it
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new Rc(E_PARSE);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Rc(E_KEY_TYPE);
  return { key, der };
}

const guarded =
  (fn: (...args: Value[]) => number) =>
  (...args: Value[]): number => {
    try {
      return fn(...args);
    } catch (e) {
      if (e instanceof Rc) return e.code;
      throw e;
    }
  };

/** The ffi table: spread it into an engine's `ffi` option (createMjsEngine / the runner). */
export function agentCryptoFfi(fs: AgentCryptoFs): FfiTable {
  return {
    espfleet_keygen: guarded((keyPath) => {
      const path = outArg(keyPath);
      if (path === undefined) return E_ARG;
      if (fs.exists(path)) return E_EXISTS;
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      // SEC1 "EC PRIVATE KEY", as the C writes it (mbedtls_pk_write_key_der + that PEM label).
      writeFile(fs, path, privateKey.export({ type: 'sec1', format: 'pem' }) as string);
      return OK;
    }),

    espfleet_csr: guarded((keyPath, cnArg, outPath) => {
      const path = arg(keyPath);
      const out = outArg(outPath);
      const cn = arg(cnArg);
      if (path === undefined || out === undefined || cn === undefined) return E_ARG;
      try {
        assertDeviceId(cn);
      } catch {
        return E_ARG;
      }
      const key = parseKey(readFile(fs, path));
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return E_KEY_TYPE;
      // RFC 2986 CertificationRequestInfo with an empty attributes [0], as mbedTLS writes it.
      const info = seq(smallInteger(0), encodeName({ cn }), spkiDer(createPublicKey(key)), tlv(0xa0));
      const der = seq(info, signatureAlgorithm(key), bitString(signDer(key, info)));
      writeFile(fs, out, toPem('CERTIFICATE REQUEST', der));
      return OK;
    }),

    espfleet_cert_not_after: guarded((certPath) => {
      const path = arg(certPath);
      if (path === undefined) return E_ARG;
      const [first] = parseCerts(readFile(fs, path));
      return notAfterSeconds((first as { der: Uint8Array }).der);
    }),

    espfleet_cert_matches: guarded((certPath, keyPath, caPath) => {
      const paths = [arg(certPath), arg(keyPath), arg(caPath)];
      if (paths.some((p) => p === undefined)) return E_ARG;
      const [certBytes, keyBytes, caBytes] = (paths as string[]).map((p) => readFile(fs, p)) as [Uint8Array, Uint8Array, Uint8Array];
      const certs = parseCerts(certBytes).map((c) => c.cert);
      const key = parseKey(keyBytes);
      const trusted = parseCerts(caBytes).map((c) => c.cert);
      const leaf = certs[0] as X509Certificate;
      if (!spkiEqual(leaf.publicKey, createPublicKey(key))) return E_KEY_MISMATCH;
      // Validity dates are not checked, as in the C (the agent compares not_after itself).
      return chains(certs, trusted) ? OK : E_NOT_TRUSTED;
    }),

    espfleet_p256_verify: guarded((spkiArg, msgArg, sigArg) => {
      if (typeof spkiArg !== 'string' || spkiArg === '' || typeof sigArg !== 'string' || sigArg === '' || typeof msgArg !== 'string') return E_ARG;
      const { key } = p256Spki(spkiArg);
      const sig = strictBase64(sigArg);
      // mJS strings are byte strings: the message is its bytes, as the C's strlen reads them.
      const msg = Buffer.from(msgArg, 'latin1');
      try {
        return verify('sha256', msg, { key, dsaEncoding: 'der' }, sig) ? OK : E_BAD_SIG;
      } catch {
        return E_BAD_SIG; // not a DER signature: mbedtls_pk_verify fails the same way
      }
    }),

    espfleet_key_fp: keyFp,
  };
}

/** espfleet_key_fp, the one `char *` result: "" for anything the C would not fingerprint. */
function keyFp(spkiArg: Value): string {
  if (typeof spkiArg !== 'string' || spkiArg === '') return '';
  try {
    return createHash('sha256').update(p256Spki(spkiArg).der).digest('hex');
  } catch (e) {
    if (e instanceof Rc) return '';
    throw e;
  }
}
