// Escrow that survives one failed disk: one Keystore per configured store (station.toml
// keystore.path, then keystore.mirrors), all unlocked by the same secret. put() resolves only
// once the key is durable in every store; a store that fails is named and the caller burns
// nothing (DESIGN.md invariant 2). compareCopies() is what `espfleet keystore verify` reports.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurable } from './durable-file.ts';
import { CertsError } from './errors.ts';
import { Keystore, type KeystoreEntry, type KeystoreOptions, type PutRequest } from './keystore.ts';
import type { KeystoreSecret } from './keystore-crypto.ts';
import { isEspfleetError } from '../firmware-js/errors.ts';

/** What the escrow step needs from a store: a single Keystore or all the copies. */
export type KeyEscrow = Pick<Keystore, 'path' | 'list' | 'get' | 'put'>;

/** One record as the copies are compared: which key of which board (the secret itself is never reported). */
export interface RecordId {
  deviceId: string;
  mac: string;
  kind: KeystoreEntry['kind'];
}

export type CopyDifference =
  | { problem: 'missing'; record: RecordId; missingFrom: string[]; presentIn: string[] }
  | { problem: 'secret_differs'; record: RecordId; paths: string[] };

export interface CopiesComparison {
  ok: boolean;
  /** Records per store, in store order. */
  records: Array<{ path: string; records: number }>;
  differences: CopyDifference[];
}

const recordKey = (e: { kind: string; mac: string }) => `${e.kind} ${e.mac}`;

/** The same set of records in every store, each with the same secret? */
export function compareCopies(stores: readonly Keystore[]): CopiesComparison {
  const byKey = new Map<string, { record: RecordId; in: Map<string, string> }>();
  for (const ks of stores) {
    for (const e of ks.list()) {
      const key = recordKey(e);
      const slot = byKey.get(key) ?? { record: { deviceId: e.deviceId, mac: e.mac, kind: e.kind }, in: new Map<string, string>() };
      slot.in.set(ks.path, Buffer.from(ks.get({ mac: e.mac }, e.kind).secret).toString('hex'));
      byKey.set(key, slot);
    }
  }
  const differences: CopyDifference[] = [];
  for (const { record, in: held } of byKey.values()) {
    const missingFrom = stores.map((s) => s.path).filter((p) => !held.has(p));
    if (missingFrom.length > 0) differences.push({ problem: 'missing', record, missingFrom, presentIn: [...held.keys()] });
    if (new Set(held.values()).size > 1) differences.push({ problem: 'secret_differs', record, paths: [...held.keys()] });
  }
  return { ok: differences.length === 0, records: stores.map((s) => ({ path: s.path, records: s.list().length })), differences };
}

export function describeDifference(d: CopyDifference): string {
  const who = `${d.record.kind} of ${d.record.deviceId} (${d.record.mac})`;
  return d.problem === 'missing'
    ? `${who} is in ${d.presentIn.join(', ')} but missing from ${d.missingFrom.join(', ')}`
    : `${who} differs between ${d.paths.join(', ')}`;
}

export interface KeystoreCopiesOptions extends KeystoreOptions {
  /** Create a mirror that does not exist yet as a byte copy of the first store (same secret, same records). */
  createMissing?: boolean;
  /** Fault injection per store path (tests). */
  hooksFor?: (path: string) => KeystoreOptions['hooks'];
}

export class KeystoreCopies implements KeyEscrow {
  private constructor(readonly stores: readonly Keystore[]) {}

  /** The first store: what records and messages name. */
  get path(): string {
    return (this.stores[0] as Keystore).path;
  }

  /** Opens every store and refuses copies that differ: a key missing from one store would not survive its disk. */
  static async open(paths: readonly string[], secret: KeystoreSecret, opts: KeystoreCopiesOptions = {}): Promise<KeystoreCopies> {
    const [first, ...mirrors] = paths;
    if (first === undefined) throw new CertsError('certs.keystore.no_store', 'no keystore path given');
    const { createMissing, hooksFor, ...base } = opts;
    const optsFor = (p: string): KeystoreOptions => {
      const hooks = hooksFor?.(p) ?? base.hooks;
      return { ...base, ...(hooks ? { hooks } : {}) };
    };
    const stores = [await Keystore.open(first, secret, optsFor(first))];
    for (const [i, path] of mirrors.entries()) {
      if (!existsSync(path) && createMissing) {
        try {
          writeFileDurable(path, readFileSync(first), { mode: 0o600, noClobber: true });
        } catch (e) {
          throw storeFailed(path, i + 2, paths.length, 'cannot be created', e);
        }
      }
      try {
        stores.push(await Keystore.open(path, secret, optsFor(path)));
      } catch (e) {
        throw storeFailed(path, i + 2, paths.length, 'cannot be opened', e);
      }
    }
    const compared = compareCopies(stores);
    if (!compared.ok) {
      throw new CertsError('certs.keystore.copies_differ', `the keystore copies differ: ${compared.differences.map(describeDifference).join('; ')}`, {
        hint: `check them with \`espfleet keystore verify\`; if one copy holds every record, copy it over the others (cp ${first} <mirror>)`,
      });
    }
    return new KeystoreCopies(stores);
  }

  list(): KeystoreEntry[] {
    return (this.stores[0] as Keystore).list();
  }

  get(...args: Parameters<Keystore['get']>): ReturnType<Keystore['get']> {
    return (this.stores[0] as Keystore).get(...args);
  }

  /** Resolves once the key is on disk in every store and reads back from each; else names the store that failed. */
  async put(req: PutRequest): Promise<KeystoreEntry> {
    let first: KeystoreEntry | undefined;
    for (const [i, ks] of this.stores.entries()) {
      try {
        const entry = await ks.put(req);
        const back = ks.get({ mac: entry.mac }, req.kind).secret;
        if (!Buffer.from(back).equals(Buffer.from(req.secret))) throw new CertsError('certs.keystore.readback', 'the key does not read back');
        first ??= entry;
      } catch (e) {
        throw storeFailed(ks.path, i + 1, this.stores.length, 'did not take the key', e);
      }
    }
    return first as KeystoreEntry;
  }
}

function storeFailed(path: string, n: number, of: number, what: string, e: unknown): CertsError {
  const why = isEspfleetError(e) ? `${e.message} [${e.code}]` : (e as Error).message;
  return new CertsError('certs.keystore.store_failed', `escrow store ${n} of ${of} (${path}) ${what}: ${why}; no eFuse is burned with a key that is not in every store`, {
    hint: `make ${path} writable (mounted, space, permissions), then run again; \`espfleet keystore verify\` compares the copies`,
    cause: e,
  });
}

export interface CopyCheck {
  ok: boolean;
  stores: Array<{ path: string; ok: true; records: number } | { path: string; ok: false; code: string; message: string }>;
  differences: CopyDifference[];
}

/** `keystore verify`: each store opened (readable, authentic under the secret), then compared. */
export async function checkCopies(paths: readonly string[], secret: KeystoreSecret): Promise<CopyCheck> {
  const opened: Keystore[] = [];
  const stores: CopyCheck['stores'] = [];
  for (const path of paths) {
    try {
      const ks = await Keystore.open(path, secret);
      opened.push(ks);
      stores.push({ path, ok: true, records: ks.list().length });
    } catch (e) {
      if (!isEspfleetError(e)) throw e;
      stores.push({ path, ok: false, code: e.code, message: e.message });
    }
  }
  const compared = compareCopies(opened);
  return { ok: stores.every((s) => s.ok) && compared.ok, stores, differences: compared.differences };
}
