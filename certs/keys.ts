// Key generation, signing and encrypted PKCS#8 storage for CA keys (DESIGN.md
// security invariant 3: the CA key is encrypted at rest).
import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, randomBytes, scryptSync, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { nullValue, oid, seq } from './der.ts';
import { CertsError } from './errors.ts';

export const CA_KEY_TYPES = ['ec-p256', 'rsa-2048', 'rsa-3072'] as const;
export type CaKeyType = (typeof CA_KEY_TYPES)[number];

const generateKeyPairAsync = promisify(generateKeyPair);

export async function generateCaKey(keyType: CaKeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  // Async: an RSA-3072 key takes about a second and should not block the event loop.
  if (keyType === 'ec-p256') return generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return generateKeyPairAsync('rsa', { modulusLength: keyType === 'rsa-2048' ? 2048 : 3072, publicExponent: 65537 });
}

/** A fresh EC P-256 key pair, as every device, server and client identity gets. */
export function generateLeafKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

// Fixed DER around a P-256 key (RFC 5480 SPKI; RFC 5208 PKCS#8 holding an RFC 5915
// ECPrivateKey with its public key), byte-identical to what OpenSSL writes.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const P256_PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const P256_PKCS8_PUBLIC = Buffer.from('a144034200', 'hex');

/**
 * A new P-256 key as SPKI DER and PKCS#8 PEM. Exporting through JWK and adding the
 * fixed DER framing takes ~10 µs where OpenSSL's SPKI + PKCS#8 encoders take ~400 µs:
 * the largest cost of issuing a device certificate (scripts/benchmarks/certs.ts).
 */
export function generateLeafKeyMaterial(): { spki: Uint8Array; privateKeyPem: string } {
  const { privateKey } = generateLeafKey();
  const jwk = privateKey.export({ format: 'jwk' });
  const [x, y, d] = [jwk.x, jwk.y, jwk.d].map((v) => Buffer.from(v ?? '', 'base64url'));
  if (x?.length !== 32 || y?.length !== 32 || d?.length !== 32) {
    return { spki: spkiDer(createPublicKey(privateKey)), privateKeyPem: privateKeyPem(privateKey) };
  }
  const point = Buffer.concat([Buffer.of(0x04), x, y]);
  const pkcs8 = Buffer.concat([P256_PKCS8_PREFIX, d, P256_PKCS8_PUBLIC, point]);
  const b64 = pkcs8.toString('base64').match(/.{1,64}/g)?.join('\n') ?? '';
  return {
    spki: new Uint8Array(Buffer.concat([P256_SPKI_PREFIX, point])),
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
  };
}

/** AlgorithmIdentifier for the signatures a key of this kind makes (SHA-256 throughout: ESP32 mbedTLS supports it). */
export function signatureAlgorithm(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType === 'ec') return seq(oid('1.2.840.10045.4.3.2')); // ecdsa-with-SHA256, no parameters
  if (key.asymmetricKeyType === 'rsa') return seq(oid('1.2.840.113549.1.1.11'), nullValue()); // sha256WithRSAEncryption
  throw new CertsError('certs.key.unsupported', `cannot sign with a ${key.asymmetricKeyType} key`);
}

export function signDer(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'der' }));
}

export function spkiDer(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

export interface KeyKdf {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

export function newKeyKdf(): KeyKdf {
  return { name: 'scrypt', N: 1 << 15, r: 8, p: 1, salt: randomBytes(16).toString('hex') };
}

/**
 * PKCS#8 encryption uses PBKDF2-HMAC-SHA256 with only 2048 iterations (OpenSSL's
 * default), cheap to brute-force. The passphrase is stretched with scrypt first;
 * the hex result is what `openssl pkey -passin` needs (docs/pki.md shows how).
 */
export function stretchPassphrase(passphrase: string, kdf: KeyKdf): string {
  return scryptSync(passphrase, Buffer.from(kdf.salt, 'hex'), 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r }).toString('hex');
}

/** PKCS#8 encrypted with AES-256-CBC under a passphrase-derived key; readable by `openssl pkey`. */
export function encryptedPrivateKeyPem(key: KeyObject, passphrase: string): string {
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

export function decryptPrivateKeyPem(pem: string, passphrase: string, where: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (e) {
    // A wrong passphrase usually fails the CBC padding check (BAD_DECRYPT); about one
    // time in 256 the padding passes and the PKCS#8 parse fails instead. Both mean the same.
    if (pem.includes('ENCRYPTED PRIVATE KEY')) {
      throw new CertsError('certs.ca.bad_passphrase', `wrong passphrase for the CA key ${where}`, {
        hint: 'check ESPFLEET_CA_PASSPHRASE or the --passphrase-file contents (a trailing newline is ignored)',
        cause: e,
      });
    }
    throw new CertsError('certs.ca.bad_key', `cannot read the CA key ${where}: ${(e as Error).message}`, { cause: e });
  }
}
