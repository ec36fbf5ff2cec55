// The append-only, hash-chained audit log (DESIGN.md security invariant 6): one canonical
// JSON entry per line; each entry's `prev` is the sha256 of the previous line and its
// `hash` covers the entry itself, so any edited, removed, inserted or reordered line is
// found by verifyAuditLog. A small `<log>.head` file records the entry count and last
// line's hash, so dropping whole lines from the end is found too.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { EspfleetError } from '../../firmware-js/errors.ts';
import { writeFileAtomic } from '../io/files.ts';
import type { AuditAction, AuditEntry, AuditLog } from './records.ts';

export class AuditLogError extends EspfleetError {}

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  'provision.start',
  'provision.identity',
  'provision.escrow',
  'provision.efuse',
  'provision.flash',
  'provision.done',
  'provision.failed',
  'reprovision',
  'certificate.revoke',
  'keystore.export',
  'rollout',
];

export const GENESIS_PREV = '0'.repeat(64);

export interface AuditLogOptions {
  /** Source of entry timestamps; tests pass a fixed clock. */
  clock?: () => Date;
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Entries that verified (all of them when ok). */
  entries: number;
  /** The first problem: 1-based line number and why. */
  problem?: { line: number; reason: string };
}

export function headPath(logPath: string): string {
  return `${logPath}.head`;
}

/** JSON with object keys sorted at every depth and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new AuditLogError('station.audit.bad_entry', `audit entries hold only finite numbers, got ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new AuditLogError('station.audit.bad_entry', `audit entries hold only JSON values, got ${typeof value}`);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(canonicalJson(entry));
}

export async function openAuditLog(path: string, opts: AuditLogOptions = {}): Promise<FileAuditLog> {
  const log = new FileAuditLog(path, opts.clock ?? (() => new Date()));
  log.resync();
  return log;
}

export class FileAuditLog implements AuditLog {
  private seq = 0;
  private prev = GENESIS_PREV;
  /** File size after our last write; a different size means another writer appended. */
  private size = 0;
  /** Byte length of the last line including its newline, to re-check the tail cheaply. */
  private lastLen = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly clock: () => Date,
  ) {}

  /** @internal Verifies the whole file and takes its tail as the chain's head. */
  resync(): void {
    const scan = scanLog(this.path);
    if (!scan.result.ok) {
      const p = scan.result.problem!;
      throw new AuditLogError('station.audit.corrupt', `audit log ${this.path} fails verification at line ${p.line}: ${p.reason}`, {
        hint: `nothing was appended; inspect it with \`espfleet audit verify --log ${this.path}\``,
      });
    }
    this.seq = scan.result.entries;
    this.prev = scan.lastLine === undefined ? GENESIS_PREV : sha256Hex(scan.lastLine);
    this.size = scan.size;
    this.lastLen = scan.lastLine === undefined ? 0 : Buffer.byteLength(scan.lastLine, 'utf8') + 1;
  }

  /** The file still ends with the line we chained to (same size, same last line)? */
  private tailUnchanged(): boolean {
    if (fileSize(this.path) !== this.size) return false;
    if (this.lastLen === 0) return true;
    const buf = Buffer.alloc(this.lastLen);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, buf, 0, this.lastLen, this.size - this.lastLen);
    } finally {
      closeSync(fd);
    }
    const text = buf.toString('utf8');
    return text.endsWith('\n') && sha256Hex(text.slice(0, -1)) === this.prev;
  }

  append(input: Pick<AuditEntry, 'action' | 'actor' | 'subject'> & { details?: Record<string, unknown> }): Promise<AuditEntry> {
    // Appends are serialised so seq and prev always follow the file order.
    const next = this.queue.then(() => this.appendNow(input));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private appendNow(input: Pick<AuditEntry, 'action' | 'actor' | 'subject'> & { details?: Record<string, unknown> }): AuditEntry {
    checkInput(input);
    // Another writer, or tampering with the tail, is caught before we chain onto it;
    // edits further back are found by verifyAuditLog and by the next open.
    if (!this.tailUnchanged()) this.resync();
    const body: Omit<AuditEntry, 'hash'> = {
      seq: this.seq,
      at: this.clock().toISOString(),
      action: input.action,
      actor: input.actor,
      subject: { ...input.subject },
      ...(input.details === undefined ? {} : { details: JSON.parse(canonicalJson(input.details)) as Record<string, unknown> }),
      prev: this.prev,
    };
    const entry: AuditEntry = { ...body, hash: entryHash(body) };
    const line = canonicalJson(entry);
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    const fd = openSync(this.path, 'a', 0o644);
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } catch (e) {
      throw new AuditLogError('station.audit.write_failed', `cannot append to audit log ${this.path}: ${(e as Error).message}`, { cause: e });
    } finally {
      closeSync(fd);
    }
    this.seq += 1;
    this.prev = sha256Hex(line);
    this.size += bytes.length;
    this.lastLen = bytes.length;
    writeFileAtomic(headPath(this.path), `${canonicalJson({ entries: this.seq, last: this.prev })}\n`);
    return entry;
  }
}

function checkInput(input: { action: unknown; actor: unknown; subject: unknown; details?: unknown }): void {
  const bad = (what: string): never => {
    throw new AuditLogError('station.audit.bad_entry', `audit entry: ${what}`);
  };
  if (!AUDIT_ACTIONS.includes(input.action as AuditAction)) bad(`unknown action ${JSON.stringify(input.action)}`);
  if (typeof input.actor !== 'string' || input.actor === '') bad('actor must be a non-empty string');
  if (input.subject === null || typeof input.subject !== 'object' || Array.isArray(input.subject)) bad('subject must be an object of strings');
  for (const [k, v] of Object.entries(input.subject as object)) if (typeof v !== 'string') bad(`subject.${k} must be a string`);
  if (input.details !== undefined && (input.details === null || typeof input.details !== 'object' || Array.isArray(input.details))) {
    bad('details must be an object');
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

/** Checks every line of the log (and its head file, when there is one). */
export function verifyAuditLog(path: string): AuditVerifyResult {
  return scanLog(path).result;
}

function scanLog(path: string): { result: AuditVerifyResult; lastLine: string | undefined; size: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && readHead(path) === undefined) {
      return { result: { ok: true, entries: 0 }, lastLine: undefined, size: 0 };
    }
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AuditLogError('station.audit.unreadable', `cannot read audit log ${path}: ${(e as Error).message}`, { cause: e });
    }
    text = '';
  }
  const size = Buffer.byteLength(text, 'utf8');
  const lines = text === '' ? [] : text.split('\n');
  const complete = lines.length > 0 && lines[lines.length - 1] === '';
  if (complete) lines.pop();
  let prev = GENESIS_PREV;
  let lastLine: string | undefined;
  const fail = (line: number, reason: string) => ({ result: { ok: false, entries: line - 1, problem: { line, reason } }, lastLine, size });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const n = i + 1;
    if (i === lines.length - 1 && !complete) return fail(n, 'incomplete last line (no newline at its end): a truncated or interrupted write');
    const reason = checkLine(line, i, prev);
    if (reason !== undefined) return fail(n, reason);
    prev = sha256Hex(line);
    lastLine = line;
  }
  const head = readHead(path);
  if (head !== undefined) {
    if (head === 'bad') return fail(lines.length + 1, `the head file ${headPath(path)} is unreadable or malformed`);
    if (head.entries > lines.length) {
      return fail(lines.length + 1, `missing: the head file records ${head.entries} entries but the log has ${lines.length} (lines removed from the end)`);
    }
    // The log may be one entry ahead: a crash between appending and updating the head.
    const atHead = head.entries === 0 ? GENESIS_PREV : sha256Hex(lines[head.entries - 1] as string);
    if (atHead !== head.last) return fail(Math.max(1, head.entries), `does not match the head file ${headPath(path)} (the log was rewritten)`);
    if (lines.length > head.entries + 1) {
      return fail(head.entries + 2, `the head file records ${head.entries} entries; lines after ${head.entries + 1} were added by something else`);
    }
  }
  return { result: { ok: true, entries: lines.length }, lastLine, size };
}

function checkLine(line: string, index: number, prev: string): string | undefined {
  if (line === '') return 'empty line';
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return 'not a JSON object';
  const e = entry as Record<string, unknown>;
  let canonical: string;
  try {
    canonical = canonicalJson(e);
  } catch {
    return 'holds a value that is not canonical JSON';
  }
  if (canonical !== line) return 'not in canonical form (keys sorted, no spaces): the line was edited';
  const allowed = new Set(['seq', 'at', 'action', 'actor', 'subject', 'details', 'prev', 'hash']);
  const extra = Object.keys(e).find((k) => !allowed.has(k));
  if (extra !== undefined) return `unexpected field ${JSON.stringify(extra)}`;
  if (typeof e.seq !== 'number') return 'seq is missing';
  if (e.seq !== index) return `seq is ${e.seq}, expected ${index} (a line was removed, inserted or moved)`;
  if (typeof e.hash !== 'string') return 'hash is missing';
  const { hash, ...body } = e;
  if (entryHash(body as Omit<AuditEntry, 'hash'>) !== hash) return 'hash does not match the entry (the line was edited)';
  if (e.prev !== prev) return 'prev does not match the previous line (a line before it was changed, removed or inserted)';
  if (typeof e.at !== 'string' || Number.isNaN(Date.parse(e.at))) return 'at is not a timestamp';
  if (!AUDIT_ACTIONS.includes(e.action as AuditAction)) return `unknown action ${JSON.stringify(e.action)}`;
  if (typeof e.actor !== 'string') return 'actor is not a string';
  if (e.subject === null || typeof e.subject !== 'object' || Array.isArray(e.subject)) return 'subject is not an object';
  return undefined;
}

function readHead(path: string): { entries: number; last: string } | 'bad' | undefined {
  let text: string;
  try {
    text = readFileSync(headPath(path), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'bad';
  }
  try {
    const h = JSON.parse(text) as { entries?: unknown; last?: unknown };
    if (typeof h.entries === 'number' && Number.isInteger(h.entries) && h.entries >= 0 && typeof h.last === 'string') {
      return { entries: h.entries, last: h.last };
    }
  } catch {
    // fall through
  }
  return 'bad';
}
