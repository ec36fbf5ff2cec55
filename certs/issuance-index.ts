// The CA's own record of every certificate it issued and revoked: an append-only
// JSON-lines log, fsynced before a caller is told "issued". Appends made in the same
// tick share one fsync (group commit), so a factory issuing in parallel is not
// bound by disk latency; a torn last line from a crash is dropped on load.
import { existsSync, readFileSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { CertsError } from './errors.ts';
import type { CrlReason } from './extensions.ts';

export type IssuedRole = 'device' | 'server' | 'operator' | 'renewer';

export interface IssuedRecord {
  serialHex: string;
  cn: string;
  role: IssuedRole;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  /** sha256 hex of the certified SubjectPublicKeyInfo (DER); absent in entries older than renewal. */
  spkiSha256?: string;
  /** The signing issuing CA's key id (hex); absent in entries from before issuing-CA rollover (they are CA 1's). */
  issuerKeyIdHex?: string;
  status: 'valid' | 'revoked';
  revokedAt?: string;
  reason?: CrlReason;
}

export type IndexEntry =
  | { op: 'issue'; serialHex: string; cn: string; role: IssuedRole; notBefore: string; notAfter: string; fingerprintSha256: string; spkiSha256?: string; issuerKeyIdHex?: string }
  | { op: 'revoke'; serialHex: string; at: string; reason: CrlReason };

interface Pending {
  line: string;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class IssuanceIndex {
  private readonly records = new Map<string, IssuedRecord>();
  private pending: Pending[] = [];
  private flushing = false;
  private failure: unknown;

  private constructor(readonly path: string) {}

  static load(path: string): IssuanceIndex {
    const index = new IssuanceIndex(path);
    if (!existsSync(path)) return index;
    const text = readFileSync(path, 'utf8');
    const complete = text.lastIndexOf('\n') + 1;
    // Only the final line can be torn (appends are fsynced in order); cut it off.
    if (complete < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, complete)));
    text
      .slice(0, complete)
      .split('\n')
      .forEach((line, i) => {
        if (line === '') return;
        let entry: IndexEntry;
        try {
          entry = JSON.parse(line) as IndexEntry;
        } catch (e) {
          throw new CertsError('certs.ca.index_corrupt', `issuance index ${path} line ${i + 1} is not JSON: ${line.slice(0, 60)}`, {
            hint: 'restore the CA directory from backup; the index is append-only and never rewritten',
            cause: e,
          });
        }
        index.apply(entry);
      });
    return index;
  }

  get(serialHex: string): IssuedRecord | undefined {
    return this.records.get(serialHex);
  }

  all(): IssuedRecord[] {
    return [...this.records.values()];
  }

  /** Applies the entry in memory now; resolves once it is on disk. */
  append(entry: IndexEntry): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.apply(entry);
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(entry)}\n`, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** Bulk import without group-commit bookkeeping (used by benchmarks and migrations). */
  async appendMany(entries: readonly IndexEntry[]): Promise<void> {
    for (const e of entries) this.apply(e);
    await this.write(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  private apply(entry: IndexEntry): void {
    if (entry.op === 'issue') {
      const { op: _op, ...rest } = entry;
      this.records.set(entry.serialHex, { ...rest, status: 'valid' });
    } else {
      const rec = this.records.get(entry.serialHex);
      if (rec) Object.assign(rec, { status: 'revoked', revokedAt: entry.at, reason: entry.reason });
    }
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    // Let every append made in this tick join the batch.
    await Promise.resolve();
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.write(batch.map((p) => p.line).join(''));
        for (const p of batch) p.resolve();
      } catch (e) {
        // Memory now holds entries the disk may not: refuse further work in this process.
        this.failure = new CertsError('certs.ca.index_write_failed', `cannot append to ${this.path}: ${(e as Error).message}`, {
          cause: e,
        });
        for (const p of [...batch, ...this.pending]) p.reject(this.failure);
        this.pending = [];
      }
    }
    this.flushing = false;
  }

  private async write(text: string): Promise<void> {
    const handle = await open(this.path, 'a', 0o600);
    try {
      await handle.write(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}
