// ECDSA P-256 keys for bundle signatures and the device's `update.keyN` form: base64 of
// the DER SubjectPublicKeyInfo (spec mongoose-os.md §1.5).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { FirmwareError } from '../errors.ts';

export interface SigningKeyPair {
  /** PKCS#8 PEM; `ENCRYPTED PRIVATE KEY` (AES-256-CBC, PBKDF2) when a passphrase was given. */
  privateKeyPem: string;
  /** SPKI PEM (`PUBLIC KEY`). */
  publicKeyPem: string;
}

/** The fixed DER prefix of every P-256 SPKI, base64: how `update.keyN` values start. */
export const P256_SPKI_BASE64_PREFIX = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE';

export function generateSigningKey(options: { passphrase?: string } = {}): SigningKeyPair {
  const encrypt = options.passphrase !== undefined && options.passphrase !== '';
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: encrypt
      ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase }
      : { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Loads a P-256 private key: PKCS#8 (plain or encrypted) or SEC1 `EC PRIVATE KEY` (plain or legacy-encrypted), as mos accepts. */
export function loadPrivateKey(pem: string, passphrase?: string): KeyObject {
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(pem);
  if (!/-----BEGIN (?:ENCRYPTED |EC )?PRIVATE KEY-----/.test(pem)) {
    throw new FirmwareError('firmware.signature.bad_key', `not a PEM private key (starts ${JSON.stringify(pem.slice(0, 30))})`, {
      hint: 'create one with `espfleet fw keygen` (or `openssl ecparam -name prime256v1 -genkey`)',
    });
  }
  // Checked first: without a passphrase OpenSSL may otherwise try to prompt on the terminal.
  if (encrypted && (passphrase === undefined || passphrase === '')) {
    throw new FirmwareError('firmware.signature.needs_passphrase', 'the signing key is encrypted and no passphrase was given', {
      hint: "give the key's passphrase",
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: passphrase ?? '' } : { key: pem, format: 'pem' });
  } catch (cause) {
    if (encrypted) {
      throw new FirmwareError('firmware.signature.wrong_passphrase', 'the passphrase does not decrypt the signing key', {
        hint: 'check the passphrase for this key file',
        cause,
      });
    }
    throw new FirmwareError('firmware.signature.bad_key', `the private key PEM does not parse: ${(cause as Error).message}`, { cause });
  }
  return requireP256(key, 'private');
}

/** Loads a P-256 public key from SPKI PEM, a private key PEM (its public half) or a device `update.keyN` value. */
export function loadPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    key = trimmed.startsWith('-----BEGIN')
      ? createPublicKey({ key: trimmed, format: 'pem' })
      : createPublicKey({ key: Buffer.from(strictBase64(trimmed), 'base64'), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new FirmwareError('firmware.signature.bad_key', `not a public key (PEM or base64 DER SPKI): ${JSON.stringify(trimmed.slice(0, 40))}`, {
      hint: `a device key looks like ${P256_SPKI_BASE64_PREFIX}…; export one with \`openssl ec -in key.pem -pubout\``,
      cause,
    });
  }
  return requireP256(key, 'public');
}

/** The value for device config `update.key<N>`: base64 DER SPKI, no PEM armour or newlines. */
export function mgosPublicKeyConfig(publicKeyPem: string | KeyObject): string {
  const key = typeof publicKeyPem === 'string' ? loadPublicKey(publicKeyPem) : requireP256(publicKeyPem.type === 'private' ? createPublicKey(publicKeyPem) : publicKeyPem, 'public');
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** A KeyObject of the wanted kind on NIST P-256, the only curve the device verifies. */
export function requireP256(key: KeyObject, kind: 'private' | 'public'): KeyObject {
  if (key.type !== kind) {
    throw new FirmwareError('firmware.signature.bad_key', `expected a ${kind} key, got a ${key.type} key`);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new FirmwareError('firmware.signature.bad_key', `bundle signing keys are ECDSA P-256 (prime256v1); this key is ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` on ${curve}` : ''}`, {
      hint: 'create one with `espfleet fw keygen`',
    });
  }
  return key;
}

function strictBase64(text: string): string {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(clean)) throw new Error('not base64');
  return clean;
}
