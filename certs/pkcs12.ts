// PKCS#12 (RFC 7292) for operator/renewer identities, so a browser or an MQTT desktop client
// can import one file. Built here from node:crypto and der.ts because node-forge's PKCS#12
// writer takes only RSA keys and forge-parsed (RSA) certificates: it cannot wrap our EC
// P-256 identities. Layout as `openssl pkcs12 -export -certpbe NONE` makes it: the
// certificates in a plain data bag (they are public), the key as a pkcs8ShroudedKeyBag
// under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), and an HMAC-SHA256 MAC over the content
// with the RFC 7292 appendix B key derivation.
import { createCipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, randomBytes, X509Certificate } from 'node:crypto';
import { explicit, nullValue, octetString, oid, seq, set, smallInteger, tlv } from './der.ts';
import { CertsError } from './errors.ts';
import { pemBlocks } from './pem.ts';

const OIDS = {
  data: '1.2.840.113549.1.7.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

export interface Pkcs12Options {
  /** PBKDF2 iterations for the key (default 200,000). */
  keyIterations?: number;
  /** Iterations of the MAC key derivation (default 10,000). */
  macIterations?: number;
  /** Shown by importers; default the leaf's CN. */
  friendlyName?: string;
  random?: (n: number) => Uint8Array;
}

const BMP_STRING = 0x1e;
const bmp = (s: string): Uint8Array => Buffer.from(s, 'utf16le').swap16();

/** RFC 7292 B.2 with SHA-256 (u = 32, v = 64); the password as a BMPString with its two zero bytes. */
export function pkcs12Kdf(password: string, salt: Uint8Array, id: 1 | 2 | 3, iterations: number, length: number): Uint8Array {
  const u = 32;
  const v = 64;
  const pw = password === '' ? new Uint8Array(0) : Buffer.concat([bmp(password), Buffer.alloc(2)]);
  const fill = (src: Uint8Array): Buffer => {
    const len = v * Math.ceil(src.length / v);
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const I = Buffer.concat([salt.length ? fill(salt) : Buffer.alloc(0), pw.length ? fill(pw) : Buffer.alloc(0)]);
  const D = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  for (let made = 0; made < length; made += u) {
    let A = createHash('sha256').update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash('sha256').update(A).digest();
    out.push(A);
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

function shroudKey(keyPem: string, passphrase: string, iterations: number, random: (n: number) => Uint8Array): Uint8Array {
  const pkcs8 = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const salt = random(16);
  const iv = random(16);
  // PBES2 inside PKCS#12 takes the password's UTF-8 bytes (OpenSSL does the same), not a BMPString.
  const key = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
  key.fill(0);
  const alg = seq(
    oid(OIDS.pbes2),
    seq(
      seq(oid(OIDS.pbkdf2), seq(octetString(salt), smallInteger(iterations), seq(oid(OIDS.hmacWithSha256), nullValue()))),
      seq(oid(OIDS.aes256Cbc), octetString(iv)),
    ),
  );
  return seq(alg, octetString(encrypted));
}

const attributes = (localKeyId: Uint8Array, name: string): Uint8Array =>
  set(seq(oid(OIDS.friendlyName), set(tlv(BMP_STRING, bmp(name)))), seq(oid(OIDS.localKeyId), set(octetString(localKeyId))));
const dataInfo = (content: Uint8Array): Uint8Array => seq(oid(OIDS.data), explicit(0, octetString(content)));

/**
 * A PFX holding the chain (leaf first) and its private key. The passphrase protects the
 * key and the MAC; it must not be empty.
 */
export function buildPkcs12(chainPem: string, keyPem: string, passphrase: string, opts: Pkcs12Options = {}): Uint8Array {
  if (passphrase.length < 8) {
    throw new CertsError('certs.pkcs12.weak_passphrase', `a PKCS#12 passphrase needs at least 8 characters, got ${passphrase.length}`, { hint: 'use a long random passphrase' });
  }
  const certs = pemBlocks(chainPem, 'CERTIFICATE');
  const leafDer = certs[0];
  if (!leafDer) throw new CertsError('certs.pkcs12.no_certificate', 'no CERTIFICATE in the chain');
  const leaf = new X509Certificate(Buffer.from(leafDer));
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new CertsError('certs.pkcs12.key_mismatch', 'the private key does not belong to the first certificate of the chain');
  const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const name = opts.friendlyName ?? /(?:^|\n)CN=([^\n]+)/.exec(leaf.subject)?.[1] ?? 'espfleet';
  const localKeyId = createHash('sha1').update(leafDer).digest();
  const certBags = certs.map((der, i) =>
    seq(oid(OIDS.certBag), explicit(0, seq(oid(OIDS.x509Certificate), explicit(0, octetString(der)))), ...(i === 0 ? [attributes(localKeyId, name)] : [])),
  );
  const keyBag = seq(oid(OIDS.pkcs8ShroudedKeyBag), explicit(0, shroudKey(keyPem, passphrase, opts.keyIterations ?? 200_000, random)), attributes(localKeyId, name));
  const authSafe = seq(dataInfo(seq(...certBags)), dataInfo(seq(keyBag)));
  const macSalt = random(16);
  const macIterations = opts.macIterations ?? 10_000;
  const macKey = pkcs12Kdf(passphrase, macSalt, 3, macIterations, 32);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const macData = seq(seq(seq(oid(OIDS.sha256), nullValue()), octetString(mac)), octetString(macSalt), smallInteger(macIterations));
  return seq(smallInteger(3), dataInfo(authSafe), macData);
}
