// Everything the dashboard reads, in one module (docs/dashboard.md): the device registry
// through its DeviceRegistry interface, rollouts through fleet/rollout-store.ts, the audit
// chain and its verifier wherever the registry keeps it (the file beside a SQLite registry,
// the rows of a PostgreSQL one: station/audit-sql.ts), and the stations' live ports files.
// The server and the change feed never touch a store themselves.
import { existsSync, statSync } from 'node:fs';
import { kill } from 'node:process';
import { TERMINAL, tally, type BoardStatus } from '../fleet/rollout-plan.ts';
import { listRollouts, loadRollout, type RolloutRecord } from '../fleet/rollout-store.ts';
import { readAuditLines, verifyAuditLog, type AuditVerifyResult } from '../station/audit-log.ts';
import { chainInRegistry, verifyRegistryAudit } from '../station/audit-sql.ts';
import { readLivePorts, type LivePortsSnapshot } from '../station/live-ports.ts';
import type { AuditEntry, DeviceRecord, DeviceStatus } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';

export const BOARD_STATUSES: readonly BoardStatus[] = ['pending', 'commanded', 'downloading', 'committed', 'reverted', 'failed', 'timed-out'];

export interface DashboardSources {
  /** The station registry: devices (DeviceRegistry) and the rollout tables. */
  registry: Registry;
  /** The audit log file of a SQLite registry; unused on PostgreSQL, whose chain is in the registry. */
  auditPath?: string;
  /** Live ports files of the stations shown (station/live-ports.ts). */
  portsFiles: readonly string[];
  clock?: () => Date;
}

export interface DeviceQuery {
  /** Matched (case-insensitively) against id, MAC, certificate serial, station, operator, version. */
  q?: string;
  status?: DeviceStatus;
  version?: string;
  /** Certificates that expire within this many days from now (expired ones included). */
  expiresWithinDays?: number;
  offset?: number;
  limit?: number;
}

export interface DeviceRow {
  deviceId: string;
  mac: string;
  status: DeviceStatus;
  reason: string | null;
  firmwareVersion: string | null;
  certSerial: string | null;
  certNotAfter: string | null;
  station: string;
  updatedAt: string;
}

export interface DevicePage {
  total: number;
  /** Records in the registry, before the filters. */
  all: number;
  offset: number;
  limit: number;
  rows: DeviceRow[];
  facets: { statuses: Record<string, number>; versions: Record<string, number> };
}

export interface WaveView {
  wave: number;
  boards: number;
  counts: Record<BoardStatus, number>;
  startedAt: string | null;
  passedAt: string | null;
}

export interface RolloutView {
  id: string;
  status: RolloutRecord['state']['status'];
  /** 1-based, as `ota rollout status` prints it. */
  wave: number;
  waves: number;
  version: string;
  boards: number;
  failures: number;
  counts: Record<BoardStatus, number>;
  abortReason: string | null;
  actor: string;
  createdAt: string;
  updatedAt: string;
  rollbackOf: string | null;
  waveViews: WaveView[];
  /** Boards that ended badly or timed out, with the reason their reports gave (audit log). */
  failed: Array<{ id: string; wave: number; status: BoardStatus; reason: string | null }>;
}

export interface Charts {
  /** Certificates (of boards not revoked) by the month they expire, months without any included. */
  expiryByMonth: Array<{ month: string; count: number }>;
  /** How many boards ran each version, after each change the audit log records (and the registry now). */
  versionsOverTime: { versions: string[]; points: Array<{ at: string; counts: Record<string, number> }> };
}

export interface AuditView {
  /** Where the chain is: the log file, or the (password-free) URL of a registry that holds it; null when none was given. */
  path: string | null;
  entries: number;
  verify: (AuditVerifyResult & { anchored: boolean }) | null;
  /** The last entries, newest first. */
  tail: AuditEntry[];
}

export interface StationView extends LivePortsSnapshot {
  file: string;
  /** Whether a run is writing it now: not finished and its process alive (a killed run leaves finished false). */
  live: boolean;
}

const DAY = 86_400_000;
/** Without a file to watch, device lists are read at most this often (a page load's burst of requests reads once). */
const LIST_TTL_MS = 1000;

function emptyCounts(): Record<BoardStatus, number> {
  return Object.fromEntries(BOARD_STATUSES.map((s) => [s, 0])) as Record<BoardStatus, number>;
}

function fileKey(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'none';
  }
}

function processAlive(pid: number): boolean {
  try {
    kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DashboardData {
  private listed: { at: number; version: string | undefined; records: DeviceRecord[] } | undefined;
  private auditCache: ({ stamp: string } & AuditChain) | undefined;
  private readonly clock: () => Date;

  constructor(readonly sources: DashboardSources) {
    this.clock = sources.clock ?? (() => new Date());
  }

  /** After a known change (a control action): the next read sees it. */
  invalidate(): void {
    this.listed = undefined;
  }

  /**
   * The registry's records, read again only when they may have changed: for a registry in a
   * file, when the file changed; for any other backend, after LIST_TTL_MS.
   */
  private async records(): Promise<DeviceRecord[]> {
    const now = Date.now();
    const path = (this.sources.registry as { path?: unknown }).path;
    const version = typeof path === 'string' ? fileKey(path) : undefined;
    const fresh = this.listed && (version !== undefined && version !== 'none' ? this.listed.version === version : now - this.listed.at <= LIST_TTL_MS);
    if (!fresh) this.listed = { at: now, version, records: await this.sources.registry.list() };
    return this.listed!.records;
  }

  async devices(query: DeviceQuery): Promise<DevicePage> {
    const all = await this.records();
    const q = query.q?.trim().toLowerCase();
    const limit = Math.max(1, Math.min(query.limit ?? 50, 500));
    const offset = Math.max(0, query.offset ?? 0);
    const before = query.expiresWithinDays === undefined ? undefined : this.clock().getTime() + query.expiresWithinDays * DAY;
    const statuses: Record<string, number> = {};
    const versions: Record<string, number> = {};
    const matched: DeviceRecord[] = [];
    for (const r of all) {
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      const v = r.firmwareVersion ?? '(none)';
      versions[v] = (versions[v] ?? 0) + 1;
      if (query.status !== undefined && r.status !== query.status) continue;
      if (query.version !== undefined && v !== query.version) continue;
      if (before !== undefined && (r.certNotAfter === null || Date.parse(r.certNotAfter) > before)) continue;
      if (q && ![r.deviceId, r.mac, r.certSerial ?? '', r.station, r.operator, r.firmwareVersion ?? ''].some((f) => f.toLowerCase().includes(q))) continue;
      matched.push(r);
    }
    const rows = matched.slice(offset, offset + limit).map((r) => ({
      deviceId: r.deviceId,
      mac: r.mac,
      status: r.status,
      reason: r.reason,
      firmwareVersion: r.firmwareVersion,
      certSerial: r.certSerial,
      certNotAfter: r.certNotAfter,
      station: r.station,
      updatedAt: r.updatedAt,
    }));
    return { total: matched.length, all: all.length, offset, limit, rows, facets: { statuses, versions } };
  }

  async rollouts(): Promise<RolloutView[]> {
    const reasons = await this.failureReasons();
    return (await listRollouts(this.sources.registry)).map((r) => rolloutView(r, reasons)).reverse();
  }

  async rollout(id: string): Promise<RolloutView | undefined> {
    const rec = (await loadRollout(this.sources.registry, id));
    return rec ? rolloutView(rec, await this.failureReasons()) : undefined;
  }

  /** A cheap fingerprint of every rollout (id → updatedAt+status), to see which changed. */
  async rolloutStamps(): Promise<Map<string, string>> {
    return new Map((await listRollouts(this.sources.registry)).map((r) => [r.id, `${r.updatedAt}:${r.state.status}`]));
  }

  async charts(): Promise<Charts> {
    const records = await this.records();
    return { expiryByMonth: expiryByMonth(records), versionsOverTime: versionsOverTime((await this.auditChain()).entries, records, this.clock()) };
  }

  async audit(limit = 200): Promise<AuditView> {
    const { path, entries, verify } = await this.auditChain();
    return { path, entries: entries.length, verify, tail: entries.slice(-limit).reverse() };
  }

  /**
   * A fingerprint of the audit chain, to see that it grew: the log file's stat, or, for a
   * registry that holds the chain, its anchor (rewritten with every entry).
   */
  async auditStamp(): Promise<string> {
    const { registry, auditPath } = this.sources;
    if (!chainInRegistry(registry)) return auditPath === undefined ? 'none' : fileKey(auditPath);
    const a = await registry.auditAnchor();
    return a ? `${a.chain}:${a.entries}:${a.last}` : 'none';
  }

  stations(): StationView[] {
    const out: StationView[] = [];
    for (const file of this.sources.portsFiles) {
      const snap = readLivePorts(file);
      if (snap) out.push({ ...snap, file, live: snap.finished !== true && processAlive(snap.pid) });
    }
    return out;
  }

  stationStamps(): string {
    return this.sources.portsFiles.map(fileKey).join('|');
  }

  /** The chain read again only when its stamp moved (taken first: a read never lags it). */
  private async auditChain(): Promise<AuditChain> {
    const stamp = await this.auditStamp();
    if (this.auditCache?.stamp !== stamp) this.auditCache = { stamp, ...(await readAuditChain(this.sources.registry, this.sources.auditPath)) };
    return this.auditCache;
  }

  private async failureReasons(): Promise<Map<string, string>> {
    const reasons = new Map<string, string>();
    for (const e of (await this.auditChain()).entries) {
      const reason = e.details?.reason;
      if (e.action === 'rollout' && e.subject.rollout && e.subject.device && typeof reason === 'string') reasons.set(`${e.subject.rollout}/${e.subject.device}`, reason);
    }
    return reasons;
  }
}

interface AuditChain {
  path: string | null;
  entries: AuditEntry[];
  verify: AuditView['verify'];
}

/** The chain's entries and its verification, from the registry's rows or the file beside it. */
async function readAuditChain(registry: Registry, path: string | undefined): Promise<AuditChain> {
  if (chainInRegistry(registry)) {
    const { anchor, lines, ...result } = await verifyRegistryAudit(registry);
    return { path: registry.path, entries: parseAuditLines(lines), verify: { ...result, anchored: anchor !== undefined } };
  }
  if (path === undefined) return { path: null, entries: [], verify: null };
  const anchor = await registry.auditAnchor();
  const result = existsSync(path) ? verifyAuditLog(path, anchor ? { anchor, anchorSource: `the registry ${registry.path}` } : {}) : null;
  return { path, entries: parseAuditLines(readAuditLines(path)), verify: result ? { ...result, anchored: anchor !== undefined } : null };
}

/** The entries, skipping lines that do not parse (the verifier names those). */
function parseAuditLines(lines: readonly string[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const line of lines) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as AuditEntry);
    } catch {
      // a torn or edited line: shown as the verifier's finding, not here
    }
  }
  return out;
}

const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());

export function rolloutView(rec: RolloutRecord, reasons: ReadonlyMap<string, string> = new Map()): RolloutView {
  const boards = Object.values(rec.state.boards);
  const counts = emptyCounts();
  const waveViews: WaveView[] = Array.from({ length: rec.state.waveCount }, (_, w) => ({
    wave: w + 1,
    boards: 0,
    counts: emptyCounts(),
    startedAt: iso(rec.state.waveStartedAt[w]),
    passedAt: iso(rec.state.wavePassedAt[w]),
  }));
  for (const b of boards) {
    counts[b.status]++;
    const w = waveViews[b.wave];
    if (w) (w.boards++, w.counts[b.status]++);
  }
  const t = tally(rec.state);
  const failed = boards
    .filter((b) => TERMINAL.has(b.status) && b.status !== 'committed')
    .sort((a, b) => a.wave - b.wave || (a.id < b.id ? -1 : 1))
    .map((b) => ({ id: b.id, wave: b.wave + 1, status: b.status, reason: reasons.get(`${rec.id}/${b.id}`) ?? (b.status === 'timed-out' ? 'no report before --device-timeout' : null) }));
  return {
    id: rec.id,
    status: rec.state.status,
    wave: Math.min(rec.state.wave + 1, rec.state.waveCount),
    waves: rec.state.waveCount,
    version: rec.spec.bundle.version,
    boards: t.targeted,
    failures: t.failures,
    counts,
    abortReason: rec.state.abortReason ?? null,
    actor: rec.actor,
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    rollbackOf: rec.spec.rollbackOf ?? null,
    waveViews,
    failed,
  };
}

const month = (t: number) => new Date(t).toISOString().slice(0, 7);

export function expiryByMonth(records: readonly DeviceRecord[]): Charts['expiryByMonth'] {
  const by = new Map<string, number>();
  for (const r of records) {
    if (r.status === 'revoked' || r.certNotAfter === null) continue;
    const t = Date.parse(r.certNotAfter);
    if (Number.isNaN(t)) continue;
    by.set(month(t), (by.get(month(t)) ?? 0) + 1);
  }
  const months = [...by.keys()].sort();
  if (months.length === 0) return [];
  // Every month from the first to the last, so gaps show as gaps (at most ten years).
  const out: Charts['expiryByMonth'] = [];
  let [y, m] = months[0]!.split('-').map(Number) as [number, number];
  const last = months.at(-1)!;
  for (let i = 0; i < 120; i++) {
    const key = `${y}-${String(m).padStart(2, '0')}`;
    out.push({ month: key, count: by.get(key) ?? 0 });
    if (key >= last) break;
    m === 12 ? ((m = 1), y++) : m++;
  }
  return out;
}

/**
 * Versions over time from the audit log: a board's version is set by its provisioning
 * (provision.flash, firmwareVersion) and by each committed update (rollout report,
 * running); the last point is the registry now. At most `maxPoints` points, evenly spread.
 */
export function versionsOverTime(entries: readonly AuditEntry[], records: readonly DeviceRecord[], now: Date, maxPoints = 40): Charts['versionsOverTime'] {
  const current = new Map<string, string>();
  const snaps: Array<{ at: string; counts: Record<string, number> }> = [];
  const countsOf = (m: ReadonlyMap<string, string>) => {
    const c: Record<string, number> = {};
    for (const v of m.values()) c[v] = (c[v] ?? 0) + 1;
    return c;
  };
  for (const e of entries) {
    let device: string | undefined;
    let version: unknown;
    if (e.action === 'provision.flash') [device, version] = [e.subject.deviceId, e.details?.firmwareVersion];
    else if (e.action === 'rollout' && e.details?.status === 'committed') [device, version] = [e.subject.device, e.details?.running];
    if (device === undefined || typeof version !== 'string' || current.get(device) === version) continue;
    current.set(device, version);
    snaps.push({ at: e.at, counts: countsOf(current) });
  }
  const registry = new Map(records.filter((r) => r.status !== 'revoked' && r.firmwareVersion !== null).map((r) => [r.deviceId, r.firmwareVersion!]));
  const points = snaps.length <= maxPoints - 1 ? snaps : Array.from({ length: maxPoints - 1 }, (_, i) => snaps[Math.round((i * (snaps.length - 1)) / (maxPoints - 2))]!);
  points.push({ at: now.toISOString(), counts: countsOf(registry) });
  const versions = [...new Set(points.flatMap((p) => Object.keys(p.counts)))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return { versions, points };
}
