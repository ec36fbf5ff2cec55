// The backup file: a magic line, a JSON header line (format, scrypt parameters and salt, a
// key-check value, the GCM nonce, and an unkeyed checksum of the header so a damaged header
// is told apart from a wrong passphrase), then the AES-256-GCM ciphertext of the gzipped
// payload with the header as associated data. The key derivation and the cipher are the
// keystore's (certs/keystore-crypto.ts): one implementation of the project's crypto.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { deriveKeys, keyCheckMatches, newKdfParams, open, seal, DEFAULT_SCRYPT, type KdfParams } from '../../certs/keystore-crypto.ts';
import { BackupError } from './errors.ts';

export const MAGIC = 'ESPFLEET-BACKUP 1\n';

interface Header {
  format: 'espfleet-backup';
  version: 1;
  kdf: KdfParams;
  keyCheck: string;
  nonce: string;
  /** sha256 of the header's other fields (canonical text below). */
  check: string;
}

type ScryptCost = { N: number; r: number; p: number };

const boundText = (h: Pick<Header, 'format' | 'version' | 'kdf' | 'keyCheck' | 'nonce'>) =>
  JSON.stringify([h.format, h.version, h.kdf, h.keyCheck, h.nonce]);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Encrypts `payload` (any bytes) under a key derived from `passphrase`. */
export async function sealArchive(payload: Uint8Array, passphrase: string, cost: ScryptCost = DEFAULT_SCRYPT): Promise<Uint8Array> {
  const kdf = newKdfParams({ passphrase }, cost);
  const keys = await deriveKeys({ passphrase }, kdf);
  // The AAD binds the KDF and key check; the nonce is bound by the checksum and by GCM itself.
  const aad = JSON.stringify(['espfleet-backup v1', kdf, keys.keyCheck]);
  const sealed = seal(keys.encKey, gzipSync(payload), aad);
  const fields = { format: 'espfleet-backup' as const, version: 1 as const, kdf, keyCheck: keys.keyCheck, nonce: sealed.nonce };
  const header: Header = { ...fields, check: sha256(boundText(fields)) };
  return Buffer.concat([Buffer.from(MAGIC), Buffer.from(`${JSON.stringify(header)}\n`), Buffer.from(sealed.ciphertext, 'hex')]);
}

function damaged(file: string, why: string): BackupError {
  return new BackupError('backup.damaged', `the backup ${file} is damaged or was altered: ${why}`, {
    hint: 'nothing was restored; use another copy of the backup',
  });
}

function plausibleKdf(kdf: unknown): kdf is KdfParams & { name: 'scrypt' } {
  const k = kdf as { name?: unknown; N?: unknown; r?: unknown; p?: unknown; salt?: unknown };
  return (
    k !== null && typeof k === 'object' && k.name === 'scrypt' && typeof k.salt === 'string' && /^[0-9a-f]{32}$/.test(k.salt) &&
    typeof k.N === 'number' && Number.isInteger(Math.log2(k.N)) && k.N >= 1 << 10 && k.N <= 1 << 20 &&
    typeof k.r === 'number' && k.r >= 1 && k.r <= 32 && typeof k.p === 'number' && k.p >= 1 && k.p <= 16
  );
}

/** Decrypts and authenticates a backup file's bytes; every failure is a BackupError naming `file`. */
export async function openArchive(bytes: Uint8Array, passphrase: string, file: string): Promise<Uint8Array> {
  const buf = Buffer.from(bytes);
  if (!buf.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) {
    throw new BackupError('backup.not_a_backup', `${file} is not an espfleet backup (it does not start with "${MAGIC.trim()}")`, {
      hint: 'give the file written by `espfleet backup create`',
    });
  }
  const eol = buf.indexOf(0x0a, MAGIC.length);
  if (eol < 0) throw damaged(file, 'the header line is cut off (a truncated file)');
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length, eol).toString('utf8')) as Header;
  } catch {
    throw damaged(file, 'the header is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || header.format !== 'espfleet-backup' || header.version !== 1) {
    throw damaged(file, 'the header does not name format espfleet-backup version 1');
  }
  if (typeof header.nonce !== 'string' || typeof header.keyCheck !== 'string' || header.check !== sha256(boundText(header))) {
    throw damaged(file, 'the header checksum does not match');
  }
  if (!plausibleKdf(header.kdf)) throw damaged(file, `implausible key-derivation parameters ${JSON.stringify(header.kdf)}`);
  const keys = await deriveKeys({ passphrase }, header.kdf);
  if (!keyCheckMatches(keys, header.keyCheck)) {
    throw new BackupError('backup.bad_passphrase', `wrong passphrase for the backup ${file}`, {
      hint: 'check ESPFLEET_BACKUP_PASSPHRASE or --passphrase-file; it is the passphrase given to `backup create`, not the keystore or CA one',
    });
  }
  const body = buf.subarray(eol + 1);
  const aad = JSON.stringify(['espfleet-backup v1', header.kdf, header.keyCheck]);
  const zipped = open(keys.encKey, { nonce: header.nonce, ciphertext: body.toString('hex') }, aad);
  if (!zipped) throw damaged(file, `the encrypted contents (${body.length} bytes) do not authenticate (altered, truncated or cut short)`);
  try {
    return new Uint8Array(gunzipSync(zipped));
  } catch {
    throw damaged(file, 'the contents do not decompress');
  }
}
