// What a backup's files say about the station, checked without restoring it: the audit
// chain verifies against its head and the registry's anchor, and the counts of devices,
// audit entries, certificates and escrowed keys. The registry and the log are not secret;
// they are checked from a private temporary directory that is removed afterwards.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { verifyAuditLog, type AuditVerifyResult } from '../station/audit-log.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { BackupError } from './errors.ts';
import type { BackupCounts, StationFile } from './manifest.ts';

export interface StationCheck {
  counts: BackupCounts;
  audit: AuditVerifyResult & { anchored: boolean };
}

const text = (f: StationFile | undefined) => (f ? Buffer.from(f.data).toString('utf8') : '');

export async function checkStationFiles(files: readonly StationFile[], what: string): Promise<StationCheck> {
  const find = (role: StationFile['role']) => files.find((f) => f.role === role);
  const issued = files.find((f) => f.role === 'ca' && f.name.endsWith('/issued.jsonl'));
  const certificates = text(issued).split('\n').filter((l) => l.trim() !== '').length;
  let keystoreRecords: number;
  try {
    const ks = JSON.parse(text(find('keystore'))) as { format?: unknown; records?: unknown };
    if (ks.format !== 'espfleet-keystore' || !Array.isArray(ks.records)) throw new Error('not a keystore');
    keystoreRecords = ks.records.length;
  } catch {
    throw new BackupError('backup.bad_contents', `${what}: the keystore in it is not an espfleet keystore`, { hint: 'nothing was restored' });
  }
  const dir = mkdtempSync(join(tmpdir(), 'espfleet-backup-check-'));
  try {
    const put = (f: StationFile | undefined, name: string) => {
      if (!f) return undefined;
      const p = join(dir, name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, f.data, { mode: 0o600 });
      return p;
    };
    const logPath = join(dir, 'audit.jsonl');
    put(find('audit-log'), 'audit.jsonl');
    put(find('audit-head'), 'audit.jsonl.head');
    const regPath = put(find('registry'), 'registry.sqlite');
    let devices = 0;
    let anchor;
    if (regPath) {
      const registry = await openRegistry(regPath, { readOnly: true }).catch((e: unknown) => {
        throw new BackupError('backup.bad_contents', `${what}: the registry in it does not open: ${(e as Error).message}`, { cause: e, hint: 'nothing was restored' });
      });
      try {
        devices = (await registry.list()).length;
        anchor = await registry.auditAnchor();
      } finally {
        await registry.close();
      }
    }
    const result = find('audit-log') || anchor ? verifyAuditLog(logPath, anchor ? { anchor, anchorSource: 'the registry in the backup' } : {}) : { ok: true, entries: 0 };
    return { counts: { devices, auditEntries: result.entries, certificates, keystoreRecords }, audit: { ...result, anchored: anchor !== undefined } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
