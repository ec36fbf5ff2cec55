// The escrow for per-device secrets (the factory's flash-encryption keys), keyed by
// device id and MAC, each AES-256-GCM sealed under the master key. put() resolves
// only after a durable write (DESIGN.md invariant 2: escrowed before any eFuse burn).
// Records escrowed under the old `esp32-<12 hex>` id read as the station's `esp32_<6 hex>`
// (canonicalDeviceId): the stored id stays, it is sealed into the record's AAD.
import { existsSync, readFileSync } from 'node:fs';
import { canonicalDeviceId, normalizeMac as canonicalMac } from '../firmware-js/device-id.ts';
import { writeFileDurable, type DurableWriteHooks } from './durable-file.ts';
import { CertsError } from './errors.ts';
import { assertDeviceId } from './identity.ts';
import {
  deriveKeys, hmacHex, keyCheckMatches, macMatches, newKdfParams, open, seal, DEFAULT_SCRYPT,
  type KdfParams, type KeystoreKeys, type KeystoreSecret,
} from './keystore-crypto.ts';

export const KEYSTORE_KINDS = ['flash-encryption-key'] as const;
export type KeystoreKind = (typeof KEYSTORE_KINDS)[number];

export interface KeystoreEntry {
  deviceId: string;
  mac: string;
  kind: KeystoreKind;
  createdAt: string;
  meta?: Record<string, string | number | boolean>;
}

interface StoredRecord extends KeystoreEntry {
  nonce: string;
  ciphertext: string;
}

interface KeystoreFile {
  format: 'espfleet-keystore';
  version: 1;
  kdf: KdfParams;
  keyCheck: string;
  records: StoredRecord[];
  mac?: string;
}

export interface KeystoreOptions {
  /** Test-only fault injection for the durable write. */
  hooks?: DurableWriteHooks;
  clock?: () => Date;
  /** scrypt cost for new keystores and rotations (stored in the file). */
  scrypt?: { N: number; r: number; p: number };
}

export interface PutRequest {
  deviceId: string;
  mac: string;
  kind: KeystoreKind;
  secret: Uint8Array;
  meta?: Record<string, string | number | boolean>;
}

export type Lookup = { mac: string } | { deviceId: string };

/** "aa:bb:cc:dd:ee:ff" from any of aabbccddeeff, AA-BB-…, aa:bb:…. */
export function normalizeMac(mac: string): string {
  const norm = canonicalMac(mac);
  if (norm === undefined) {
    throw new CertsError('certs.keystore.bad_mac', `not a MAC address: ${JSON.stringify(mac)}`, { hint: 'use the form 24:0a:c4:12:34:56' });
  }
  return norm;
}

/** The id a stored record answers to (and is shown with). */
const idOf = (r: { deviceId: string; mac: string }) => canonicalDeviceId(r.deviceId, r.mac);

const aad = (r: KeystoreEntry) => JSON.stringify(['espfleet-keystore v1', r.deviceId, r.mac, r.kind, r.createdAt, r.meta ?? null]);
const macText = (f: KeystoreFile) => JSON.stringify({ ...f, mac: undefined });

export class Keystore {
  /** Serializes writers so concurrent put() calls from several ports cannot interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private file: KeystoreFile,
    private keys: KeystoreKeys,
    private readonly opts: KeystoreOptions,
  ) {}

  static async create(path: string, secret: KeystoreSecret, opts: KeystoreOptions = {}): Promise<Keystore> {
    if (existsSync(path)) {
      throw new CertsError('certs.keystore.exists', `a keystore already exists at ${path}`, { hint: 'open it instead, or choose a new path' });
    }
    const kdf = newKdfParams(secret, opts.scrypt ?? DEFAULT_SCRYPT);
    const keys = await deriveKeys(secret, kdf);
    const ks = new Keystore(path, { format: 'espfleet-keystore', version: 1, kdf, keyCheck: keys.keyCheck, records: [] }, keys, opts);
    ks.persist(ks.file);
    return ks;
  }

  static async open(path: string, secret: KeystoreSecret, opts: KeystoreOptions = {}): Promise<Keystore> {
    const file = readKeystoreFile(path);
    const keys = await deriveKeys(secret, file.kdf);
    if (!keyCheckMatches(keys, file.keyCheck)) {
      throw new CertsError('certs.keystore.bad_passphrase', `wrong ${'passphrase' in secret ? 'passphrase' : 'key'} for the keystore ${path}`, {
        hint: 'check ESPFLEET_KEYSTORE_PASSPHRASE, --passphrase-file or --key-file (if they are right, the file header was altered)',
      });
    }
    if (!macMatches(keys.macKey, macText(file), file.mac ?? '')) throw tampered(path, 'the file authentication code does not match');
    const ks = new Keystore(path, file, keys, opts);
    // Decrypt every record once so damage is reported at open, not at the next burn.
    for (const r of file.records) ks.decrypt(r);
    return ks;
  }

  list(): KeystoreEntry[] {
    return this.file.records.map(entryOf);
  }

  get(lookup: Lookup, kind: KeystoreKind): KeystoreEntry & { secret: Uint8Array } {
    const match = 'mac' in lookup ? (r: StoredRecord) => r.mac === normalizeMac(lookup.mac) : (r: StoredRecord) => idOf(r) === canonicalDeviceId(lookup.deviceId, r.mac);
    const record = this.file.records.find((r) => match(r) && r.kind === kind);
    if (!record) {
      throw new CertsError('certs.keystore.not_found', `no ${kind} for ${JSON.stringify(lookup)} in ${this.path}`, {
        hint: 'list the escrowed devices with `espfleet keystore list`',
      });
    }
    return { ...entryOf(record), secret: this.decrypt(record) };
  }

  /** Escrows a secret; resolves after it is on disk. Refuses to replace a different secret. */
  put(req: PutRequest): Promise<KeystoreEntry> {
    return this.serialized(() => {
      assertDeviceId(req.deviceId);
      const mac = normalizeMac(req.mac);
      if (!KEYSTORE_KINDS.includes(req.kind)) {
        throw new CertsError('certs.keystore.bad_kind', `unknown secret kind ${JSON.stringify(req.kind)}`, { hint: `use ${KEYSTORE_KINDS.join(', ')}` });
      }
      if (req.secret.length < 16 || req.secret.length > 64) {
        throw new CertsError('certs.keystore.bad_secret', `a ${req.kind} of ${req.secret.length} bytes is not plausible (16-64 expected)`);
      }
      const wantId = canonicalDeviceId(req.deviceId, mac);
      const same = this.file.records.find((r) => r.kind === req.kind && (r.mac === mac || idOf(r) === wantId));
      if (same) {
        const existing = this.decrypt(same);
        // A retry of the same escrow is fine; anything else would orphan a key that may already be burned.
        if (same.mac === mac && idOf(same) === wantId && Buffer.from(existing).equals(Buffer.from(req.secret))) {
          return entryOf(same);
        }
        throw new CertsError('certs.keystore.conflict', `a different ${req.kind} is already escrowed for device ${idOf(same)} (MAC ${same.mac}); refusing to store one for ${req.deviceId} (MAC ${mac})`, {
          hint: 'a board keeps its flash-encryption key for life; check the board identity instead of replacing the escrow',
        });
      }
      const entry: KeystoreEntry = {
        deviceId: wantId,
        mac,
        kind: req.kind,
        createdAt: (this.opts.clock?.() ?? new Date()).toISOString(),
        ...(req.meta ? { meta: req.meta } : {}),
      };
      const next: KeystoreFile = { ...this.file, records: [...this.file.records, { ...entry, ...seal(this.keys.encKey, req.secret, aad(entry)) }] };
      this.persist(next);
      return entry;
    });
  }

  /** Re-encrypts every record under a new secret in one durable write; the old file stays until the rename. */
  rotateMasterKey(newSecret: KeystoreSecret): Promise<number> {
    return this.serialized(async () => {
      const old = this.file.kdf;
      const cost = this.opts.scrypt ?? (old.name === 'scrypt' ? { N: old.N, r: old.r, p: old.p } : DEFAULT_SCRYPT);
      const kdf = newKdfParams(newSecret, cost);
      const keys = await deriveKeys(newSecret, kdf);
      // Every record is sealed afresh, so old-form ids are rewritten in their canonical form here.
      const records = this.file.records.map((r) => {
        const entry = entryOf(r);
        return { ...entry, ...seal(keys.encKey, this.decrypt(r), aad(entry)) };
      });
      const next: KeystoreFile = { format: 'espfleet-keystore', version: 1, kdf, keyCheck: keys.keyCheck, records };
      this.persist(next, keys);
      return records.length;
    });
  }

  private decrypt(r: StoredRecord): Uint8Array {
    const secret = open(this.keys.encKey, r, aad(r));
    if (!secret) throw tampered(this.path, `the record for ${r.deviceId} (${r.mac}) does not authenticate`);
    return secret;
  }

  private persist(next: KeystoreFile, keys: KeystoreKeys = this.keys): void {
    // Another process writing the same keystore would lose records: detect it.
    if (this.file.mac !== undefined && existsSync(this.path) && readKeystoreFile(this.path).mac !== this.file.mac) {
      throw new CertsError('certs.keystore.changed_on_disk', `${this.path} was changed by another process since it was opened`, {
        hint: 'use one keystore writer at a time; reopen and retry',
      });
    }
    const sealed: KeystoreFile = { ...next, mac: hmacHex(keys.macKey, macText(next)) };
    writeFileDurable(this.path, `${JSON.stringify(sealed, null, 1)}\n`, { mode: 0o600, ...(this.opts.hooks ? { hooks: this.opts.hooks } : {}) });
    this.file = sealed;
    this.keys = keys;
  }

  private serialized<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function entryOf(r: StoredRecord): KeystoreEntry {
  const { nonce: _n, ciphertext: _c, ...entry } = r;
  return { ...entry, deviceId: idOf(r) };
}

function tampered(path: string, why: string): CertsError {
  return new CertsError('certs.keystore.tampered', `keystore ${path} was altered or damaged: ${why}`, {
    hint: 'restore the keystore from backup; do not burn eFuses with keys from this file',
  });
}

function readKeystoreFile(path: string): KeystoreFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CertsError(code === 'ENOENT' ? 'certs.keystore.not_found' : 'certs.keystore.unreadable', `cannot read keystore ${path}: ${code ?? (e as Error).message}`, {
      hint: 'create one with `espfleet keystore init --keystore <path>`',
      cause: e,
    });
  }
  let file: KeystoreFile;
  try {
    file = JSON.parse(text) as KeystoreFile;
  } catch (e) {
    throw tampered(path, 'it is not valid JSON');
  }
  if (file.format !== 'espfleet-keystore' || file.version !== 1 || !Array.isArray(file.records) || !file.kdf) {
    throw tampered(path, `unexpected format ${JSON.stringify(file.format)} version ${JSON.stringify(file.version)}`);
  }
  if (!plausibleKdf(file.kdf)) throw tampered(path, `implausible key-derivation parameters ${JSON.stringify(file.kdf)}`);
  return file;
}

/** Bounds the KDF cost read from the file, so an edited header cannot exhaust memory. */
function plausibleKdf(kdf: KdfParams): boolean {
  if (typeof kdf.salt !== 'string' || !/^[0-9a-f]{32}$/.test(kdf.salt)) return false;
  if (kdf.name === 'key-file') return true;
  const { N, r, p } = kdf;
  return kdf.name === 'scrypt' && Number.isInteger(Math.log2(N)) && N >= 1 << 10 && N <= 1 << 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16;
}

export const createKeystore = Keystore.create;
export const openKeystore = Keystore.open;
