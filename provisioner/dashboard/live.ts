// The dashboard's change feed: what the page is told as it happens (Server-Sent Events,
// server.ts /events). Boards' status and OTA reports come pushed from MQTT (FleetWatch, the
// retained devices/<id>/status and ota/status of docs/ota-protocol.md); rollouts, the audit
// chain (its file's stat, or the anchor of a registry that holds it) and the stations' ports
// files are looked at on a short interval here, server-side, and only what changed is sent —
// the page never re-reads whole views on a timer.
import type { FleetWatch, WatchMessage } from '../fleet/fleet-watch.ts';
import type { DashboardData } from './data.ts';

export type LiveEvent =
  | { type: 'rollout'; data: unknown }
  | { type: 'board'; data: { id: string; online: boolean; version: string | null } }
  | { type: 'ota'; data: Record<string, unknown> & { id: string } }
  | { type: 'stations'; data: unknown }
  | { type: 'audit'; data: unknown }
  | { type: 'driver'; data: { id: string; line: string } };

export interface LiveFeedOptions {
  data: DashboardData;
  watch?: FleetWatch;
  /** How often the stores are looked at (ms); default 500. */
  intervalMs?: number;
}

export class LiveFeed {
  private readonly listeners = new Set<(e: LiveEvent) => void>();
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => void) | undefined;
  private rollouts = new Map<string, string>();
  private audit = '';
  private stations = '';
  private busy = false;

  constructor(private readonly opts: LiveFeedOptions) {}

  async start(): Promise<void> {
    const { data, watch } = this.opts;
    this.rollouts = await data.rolloutStamps();
    this.audit = await data.auditStamp();
    this.stations = data.stationStamps();
    this.unlisten = watch?.listen((m) => this.fromMqtt(m));
    this.timer = setInterval(() => void this.look(), this.opts.intervalMs ?? 500);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unlisten?.();
    this.listeners.clear();
  }

  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  emit(e: LiveEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  private fromMqtt(m: WatchMessage): void {
    if (m.kind === 'status') {
      if (m.was && m.was.online === m.facts.online && m.was.version === m.facts.version) return;
      this.emit({ type: 'board', data: { id: m.id, online: m.facts.online, version: m.facts.version ?? null } });
    } else if (m.kind === 'ota') {
      let payload: Record<string, unknown>;
      try {
        payload = JSON.parse(new TextDecoder().decode(m.payload)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (payload === null || typeof payload !== 'object') return;
      // Only the fields the page shows: a report is the board's claim, never a secret.
      const pick = ['rollout', 'state', 'version', 'running', 'reason', 'progress', 'bytes', 'total'];
      this.emit({ type: 'ota', data: { id: m.id, ...Object.fromEntries(pick.filter((k) => k in payload).map((k) => [k, payload[k]])) } });
    }
  }

  /** One look at the stores; a slow look is never overlapped by the next. */
  async look(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { data } = this.opts;
      // Each change is marked seen only once it is sent: a look that fails half-way (a store
      // locked or mid-replace) leaves the rest to the next look instead of losing it.
      const now = await data.rolloutStamps();
      const changed = [...now].filter(([id, stamp]) => this.rollouts.get(id) !== stamp);
      if (changed.length > 0) data.invalidate();
      for (const [id, stamp] of changed) {
        const view = await data.rollout(id);
        if (view) this.emit({ type: 'rollout', data: view });
        this.rollouts.set(id, stamp);
      }
      const audit = await data.auditStamp();
      if (audit !== this.audit) {
        this.emit({ type: 'audit', data: await data.audit(50) });
        this.audit = audit;
      }
      const stations = data.stationStamps();
      if (stations !== this.stations) {
        this.emit({ type: 'stations', data: data.stations() });
        this.stations = stations;
      }
    } catch {
      // A store caught mid-replace or locked: the next look sees it.
    } finally {
      this.busy = false;
    }
  }
}
