// The per-board provisioning journal: one JSON file per MAC under the journal directory,
// rewritten durably (temp + fsync + rename) after every step, so a re-run after any
// interruption knows what was done. It holds serials, digests and verdicts — never a
// private key (DESIGN.md invariant 1): the device key lives only in the run's memory.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../io/files.ts';
import type { EncryptionModeRecord } from './records.ts';
import { StationError } from './steps/errors.ts';

export type StepName = 'identify' | 'identity' | 'compose' | 'plan' | 'flash' | 'boot' | 'record';
export const STEP_ORDER: readonly StepName[] = ['identify', 'identity', 'compose', 'plan', 'flash', 'boot', 'record'];

export interface JournalCert {
  serial: string;
  fingerprintSha256: string;
  notAfter: string;
  /** The run whose memory held the key; another run cannot write it to the board. */
  runId: string;
}

export interface AbandonedCert {
  serial: string;
  /** 'superseded' once revoked; null while the revocation is still owed. */
  revokedAt: string | null;
  why: string;
}

export interface JournalRegion {
  part: string;
  address: number;
  length: number;
  encrypt: boolean;
  /** MD5 of the bytes on flash (ciphertext when encrypted), to tell on resume that they are still there. */
  md5?: string;
  sectorsWritten?: number;
  sectorsSkipped?: number;
}

export interface BoardJournal {
  format: 'espfleet-journal';
  version: 1;
  mac: string;
  deviceId: string;
  chipRevision: string;
  station: string;
  operator: string;
  encryptionMode: EncryptionModeRecord;
  firmwareVersion: string | null;
  status: 'in-progress' | 'done' | 'failed';
  startedAt: string;
  updatedAt: string;
  /** Runs that touched this journal (1 for an uninterrupted provisioning). */
  runs: number;
  /** Completed steps with when and a short summary each. */
  steps: Partial<Record<StepName, { at: string; runId: string; summary: string }>>;
  cert: JournalCert | null;
  abandoned: AbandonedCert[];
  regions: JournalRegion[];
  flash: { key: 'new' | 'escrowed' | 'none'; programs: number; flashCryptCnt: number | null } | null;
  boot: { ok: boolean; line: string } | null;
  lastError: { code: string; message: string; at: string } | null;
  /** A provisioning this one replaced (reprovision), for the record. */
  previous: { deviceId: string; certSerial: string | null; finishedAt: string } | null;
}

export function journalPath(dir: string, mac: string): string {
  return join(dir, `${mac.toLowerCase().replace(/[^0-9a-f]/g, '')}.json`);
}

export function readJournal(dir: string, mac: string): BoardJournal | undefined {
  const path = journalPath(dir, mac);
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new StationError('station.journal_corrupt', `the journal ${path} is not JSON: ${(e as Error).message}`, {
      hint: 'it is written atomically, so this is outside damage; move it away to start the board over (abandoned certificates then need `espfleet ca revoke`)',
      cause: e,
    });
  }
  const j = parsed as Partial<BoardJournal>;
  if (j.format !== 'espfleet-journal' || j.version !== 1 || typeof j.mac !== 'string') {
    throw new StationError('station.journal_corrupt', `${path} is not an espfleet journal (format ${String(j.format)}, version ${String(j.version)})`);
  }
  return j as BoardJournal;
}

/** Writes the journal durably; refuses (as a bug) anything that looks like a private key. */
export function writeJournal(dir: string, journal: BoardJournal): void {
  const text = `${JSON.stringify(journal, null, 2)}\n`;
  if (/PRIVATE KEY/.test(text)) throw new Error(`bug: the journal for ${journal.mac} would contain a private key; not written`);
  mkdirSync(dir, { recursive: true });
  writeFileDurable(journalPath(dir, journal.mac), text, { mode: 0o600 });
}
