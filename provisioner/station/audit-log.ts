// The append-only, hash-chained audit log (DESIGN.md security invariant 6): one canonical
// JSON entry per line; each entry's `prev` is the sha256 of the previous line and its
// `hash` covers the entry itself, so any edited, removed, inserted or reordered line is
// found by verifyAuditLog. A small `<log>.head` file records the entry count and last
// line's hash, so dropping whole lines from the end is found too; a missing head is itself
// a finding. The same anchor (chain id, count, last hash) is kept in the registry, so
// truncating the log and deleting or rewriting the head is found too. The chain has no
// key: someone who can rewrite the log, the head and the registry consistently is not
// detected (docs/factory.md, "What the audit log proves").
// Appends hold `<log>.lock`, so two espfleet processes chain one after the other.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { EspfleetError } from '../../firmware-js/errors.ts';
import { writeFileDurable } from '../io/files.ts';
import { withFileLock } from './file-lock.ts';
import type { AuditAction, AuditAnchor, AuditAnchorStore, AuditEntry, AuditLog } from './records.ts';

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
  'certificate.rotate',
  'certificate.renew',
  'certificate.renew_refused',
  'ca.rollover.start',
  'ca.rollover.retire',
  'keystore.export',
  'rollout',
  'rollout.start',
  'rollout.command',
  'rollout.wave',
  'rollout.pause',
  'rollout.resume',
  'rollout.abort',
  'rollout.done',
  'backup.create',
  'backup.restore',
];

export const GENESIS_PREV = '0'.repeat(64);

export interface AuditLogOptions {
  /** Source of entry timestamps; tests pass a fixed clock. */
  clock?: () => Date;
  /** Where the chain is anchored besides the head file (the station's registry). */
  anchor?: AuditAnchorStore;
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Entries that verified (all of them when ok). */
  entries: number;
  /** The first problem: 1-based line number and why. */
  problem?: { line: number; reason: string };
}

export interface AuditVerifyOptions {
  /** The registry's anchor for this log, when there is a registry to ask. */
  anchor?: AuditAnchor;
  /** Where the anchor came from, for messages. */
  anchorSource?: string;
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

/** The chain's identity: the hash of its first line (entry 0). */
export function chainId(firstLine: string): string {
  return sha256Hex(firstLine);
}

export async function openAuditLog(path: string, opts: AuditLogOptions = {}): Promise<FileAuditLog> {
  const anchor = opts.anchor ? await opts.anchor.auditAnchor() : undefined;
  const log = new FileAuditLog(path, opts.clock ?? (() => new Date()), opts.anchor, anchor);
  await withFileLock(path, () => {
    log.resync();
    // A new log gets its head at once, so a log without one is never normal.
    if (fileSize(path) === 0 && readHead(path) === undefined) writeHead(path, 0, GENESIS_PREV);
  }, lockOptions);
  return log;
}

const lockOptions = { what: 'audit log', code: 'station.audit.locked' } as const;

function writeHead(path: string, entries: number, last: string): void {
  writeFileDurable(headPath(path), `${canonicalJson({ entries, last })}\n`);
}

/** The log's lines in order; a log not written yet has none. */
export function readAuditLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** A whole log written at once (a moved or exported chain): the lines durable and renamed into place, then its head. */
export function writeAuditLogFile(path: string, lines: readonly string[]): void {
  const tmp = `${path}.move.tmp`;
  writeFileDurable(tmp, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  renameSync(tmp, path);
  writeHead(path, lines.length, lines.length > 0 ? sha256Hex(lines[lines.length - 1]!) : GENESIS_PREV);
}

export class FileAuditLog implements AuditLog {
  private seq = 0;
  private prev = GENESIS_PREV;
  /** File size after our last write; a different size means another writer appended. */
  private size = 0;
  /** Byte length of the last line including its newline, to re-check the tail cheaply. */
  private lastLen = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private chain: string | undefined;

  constructor(
    readonly path: string,
    private readonly clock: () => Date,
    private readonly anchorStore?: AuditAnchorStore,
    /** The registry's anchor when the log was opened: checked by the first resync. */
    private anchorAtOpen?: AuditAnchor,
  ) {}

  /** @internal Verifies the whole file and takes its tail as the chain's head. */
  resync(): void {
    const scan = scanLog(this.path, this.anchorAtOpen ? { anchor: this.anchorAtOpen, anchorSource: 'the registry' } : {});
    // Later resyncs (after another writer appended) check the chain and the head; the
    // open-time anchor is behind by then.
    this.anchorAtOpen = undefined;
    if (!scan.result.ok) {
      const p = scan.result.problem!;
      throw new AuditLogError('station.audit.corrupt', `audit log ${this.path} fails verification at line ${p.line}: ${p.reason}`, {
        hint: `nothing was appended; inspect it with \`espfleet audit verify --log ${this.path}\``,
      });
    }
    this.seq = scan.result.entries;
    this.chain = scan.firstLine === undefined ? undefined : chainId(scan.firstLine);
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
    // Appends are serialised (in this process by the queue, across processes by the lock)
    // so seq and prev always follow the file order.
    const next = this.queue.then(async () => {
      checkInput(input);
      const { entry, anchor } = await withFileLock(this.path, () => this.appendNow(input), lockOptions);
      // Anchored after the line and the head are on disk: a crash in between leaves the
      // registry one entry behind, which verify accepts (as it does for the head).
      if (this.anchorStore) await this.anchorStore.recordAuditAnchor(anchor);
      return entry;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private appendNow(input: Pick<AuditEntry, 'action' | 'actor' | 'subject'> & { details?: Record<string, unknown> }): { entry: AuditEntry; anchor: AuditAnchor } {
    // Another writer, or tampering with the tail, is caught before we chain onto it;
    // edits further back are found by verifyAuditLog and by the next open.
    if (!this.tailUnchanged()) this.resync();
    const { entry, line } = makeAuditEntry(this.seq, this.prev, this.clock(), input);
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
    this.chain ??= this.prev;
    this.size += bytes.length;
    this.lastLen = bytes.length;
    writeHead(this.path, this.seq, this.prev);
    return { entry, anchor: { chain: this.chain, entries: this.seq, last: this.prev } };
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

/** Checks every line of the log, its head file and, when given, the registry's anchor. */
export function verifyAuditLog(path: string, opts: AuditVerifyOptions = {}): AuditVerifyResult {
  return scanLog(path, opts).result;
}

interface Scan {
  result: AuditVerifyResult;
  firstLine: string | undefined;
  lastLine: string | undefined;
  size: number;
}

function scanLog(path: string, opts: AuditVerifyOptions = {}): Scan {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && readHead(path) === undefined && !opts.anchor) {
      return { result: { ok: true, entries: 0 }, firstLine: undefined, lastLine: undefined, size: 0 };
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
  const firstLine = lines[0];
  const chain = chainProblem(lines, complete);
  const lastLine = chain === undefined ? lines[lines.length - 1] : chain.line === 1 ? undefined : lines[chain.line - 2];
  const fail = (line: number, reason: string): Scan => ({ result: { ok: false, entries: line - 1, problem: { line, reason } }, firstLine, lastLine, size });
  if (chain !== undefined) return fail(chain.line, chain.reason);
  const head = readHead(path);
  if (head === undefined && lines.length > 0) {
    return fail(lines.length + 1, `the head file ${headPath(path)} is missing: lines may have been removed from the end`);
  }
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
  if (opts.anchor !== undefined) {
    const problem = anchorProblem(lines, opts.anchor, opts.anchorSource ?? 'the registry');
    if (problem !== undefined) return fail(problem.line, problem.reason);
  }
  return { result: { ok: true, entries: lines.length }, firstLine, lastLine, size };
}

/** The first line that breaks the chain (1-based), or undefined. */
function chainProblem(lines: readonly string[], complete = true): { line: number; reason: string } | undefined {
  let prev = GENESIS_PREV;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (i === lines.length - 1 && !complete) return { line: i + 1, reason: 'incomplete last line (no newline at its end): a truncated or interrupted write' };
    const reason = checkLine(line, i, prev);
    if (reason !== undefined) return { line: i + 1, reason };
    prev = sha256Hex(line);
  }
  return undefined;
}

/** Whether `lines` are the chain `anchor` records (the anchor may be one entry behind). */
function anchorProblem(lines: readonly string[], anchor: AuditAnchor, where: string): { line: number; reason: string } | undefined {
  const firstLine = lines[0];
  if (anchor.entries > lines.length) {
    return { line: lines.length + 1, reason: `missing: ${where} anchors ${anchor.entries} entries but the log has ${lines.length} (lines removed from the end)` };
  }
  if (firstLine === undefined || chainId(firstLine) !== anchor.chain) return { line: 1, reason: `the log is not the chain ${where} anchors (it was replaced)` };
  if (sha256Hex(lines[anchor.entries - 1] as string) !== anchor.last) return { line: anchor.entries, reason: `does not match the anchor in ${where} (the log was rewritten)` };
  if (lines.length > anchor.entries + 1) {
    return { line: anchor.entries + 2, reason: `${where} anchors ${anchor.entries} entries; lines after ${anchor.entries + 1} were not anchored` };
  }
  return undefined;
}

/**
 * Verifies a chain held as lines elsewhere than a file (the audit_entries table of a
 * registry on PostgreSQL): every line canonical, hashed, chained and in order, and, when
 * given, matching the anchor.
 */
export function verifyAuditLines(lines: readonly string[], opts: AuditVerifyOptions = {}): AuditVerifyResult {
  const problem = chainProblem(lines) ?? (opts.anchor === undefined ? undefined : anchorProblem(lines, opts.anchor, opts.anchorSource ?? 'the registry'));
  return problem === undefined ? { ok: true, entries: lines.length } : { ok: false, entries: problem.line - 1, problem };
}

/** One new entry chained onto `prev` (the sha256 of the line before, or GENESIS_PREV). */
export function makeAuditEntry(seq: number, prev: string, at: Date, input: AuditInput): { entry: AuditEntry; line: string } {
  checkInput(input);
  const body: Omit<AuditEntry, 'hash'> = {
    seq,
    at: at.toISOString(),
    action: input.action,
    actor: input.actor,
    subject: { ...input.subject },
    ...(input.details === undefined ? {} : { details: JSON.parse(canonicalJson(input.details)) as Record<string, unknown> }),
    prev,
  };
  const entry: AuditEntry = { ...body, hash: entryHash(body) };
  return { entry, line: canonicalJson(entry) };
}

export type AuditInput = Pick<AuditEntry, 'action' | 'actor' | 'subject'> & { details?: Record<string, unknown> };

export { sha256Hex as lineHash };

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
