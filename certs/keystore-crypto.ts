// Key handling for the device-secret keystore: a master key from scrypt(passphrase)
// or a key file, split by HKDF into an AES-256-GCM key and a MAC key. A key-check
// value tells a wrong passphrase apart from tampering, which the file MAC catches.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CertsError } from './errors.ts';

export type KeystoreSecret = { passphrase: string } | { keyFile: string } | { key: Uint8Array };

export type KdfParams =
  | { name: 'scrypt'; N: number; r: number; p: number; salt: string }
  | { name: 'key-file'; salt: string };

export interface KeystoreKeys {
  encKey: Buffer;
  macKey: Buffer;
  keyCheck: string;
}

export const DEFAULT_SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;

export function newKdfParams(secret: KeystoreSecret, scryptCost: { N: number; r: number; p: number } = DEFAULT_SCRYPT): KdfParams {
  const salt = randomBytes(16).toString('hex');
  return 'passphrase' in secret ? { name: 'scrypt', ...scryptCost, salt } : { name: 'key-file', salt };
}

export async function deriveKeys(secret: KeystoreSecret, kdf: KdfParams): Promise<KeystoreKeys> {
  const salt = Buffer.from(kdf.salt, 'hex');
  let master: Buffer;
  if (kdf.name === 'scrypt') {
    if (!('passphrase' in secret)) throw secretKindError('a passphrase', 'a key file');
    if (secret.passphrase === '') throw new CertsError('certs.keystore.empty_passphrase', 'the keystore passphrase is empty');
    master = await new Promise<Buffer>((resolve, reject) =>
      scrypt(secret.passphrase, salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r }, (e, k) => (e ? reject(e) : resolve(k))),
    );
  } else {
    if ('passphrase' in secret) throw secretKindError('a key file', 'a passphrase');
    master = Buffer.from('key' in secret ? secret.key : readKeyFile(secret.keyFile));
    if (master.length !== 32) {
      throw new CertsError('certs.keystore.bad_key_file', `a keystore key must be 32 bytes, got ${master.length}`);
    }
  }
  const sub = (info: string) => Buffer.from(hkdfSync('sha256', master, salt, `espfleet-keystore v1 ${info}`, 32));
  const encKey = sub('record encryption');
  const macKey = sub('file authentication');
  return { encKey, macKey, keyCheck: hmacHex(macKey, 'key-check').slice(0, 32) };
}

/** Reads a key file: 32 raw bytes, or 64 hex digits with an optional newline. */
export function readKeyFile(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CertsError('certs.keystore.bad_key_file', `cannot read the keystore key file ${path}: ${(e as Error).message}`, { cause: e });
  }
  const text = bytes.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (bytes.length === 32) return new Uint8Array(bytes);
  throw new CertsError('certs.keystore.bad_key_file', `the keystore key file ${path} holds ${bytes.length} bytes; expected 32 raw bytes or 64 hex digits`, {
    hint: 'create one with `espfleet keystore init --keystore-key-file <new file>`',
  });
}

export function keyCheckMatches(keys: KeystoreKeys, stored: string): boolean {
  const a = Buffer.from(keys.keyCheck, 'hex');
  const b = Buffer.from(stored, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

export function macMatches(key: Buffer, text: string, stored: string): boolean {
  const a = Buffer.from(hmacHex(key, text), 'hex');
  const b = Buffer.from(stored, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** AES-256-GCM with a fresh 96-bit nonce; `aad` binds the ciphertext to its record's identity. */
export function seal(key: Buffer, plaintext: Uint8Array, aad: string): { nonce: string; ciphertext: string } {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce: nonce.toString('hex'), ciphertext: body.toString('hex') };
}

/** Returns undefined when authentication fails. */
export function open(key: Buffer, sealed: { nonce: string; ciphertext: string }, aad: string): Uint8Array | undefined {
  const body = Buffer.from(sealed.ciphertext, 'hex');
  if (body.length < 16) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'hex')).setAAD(Buffer.from(aad));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return new Uint8Array(Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]));
  } catch {
    return undefined;
  }
}

function secretKindError(expected: string, got: string): CertsError {
  return new CertsError('certs.keystore.wrong_secret_kind', `this keystore is unlocked with ${expected}, but ${got} was given`, {
    hint: expected === 'a passphrase' ? 'set ESPFLEET_KEYSTORE_PASSPHRASE or --keystore-passphrase-file' : 'pass --keystore-key-file <file>',
  });
}
