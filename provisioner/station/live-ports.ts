// The station's ports as they are now, for anyone watching from outside the provisioning
// process (the dashboard, docs/dashboard.md "Stations"): `espfleet provision` feeds it its
// progress lines ("[port] step…", docs/cli.md "Progress") and it keeps one small JSON file,
// `<station id>.ports.json` beside station.toml, replaced atomically at most a few times a
// second. It holds steps, results and failure reasons — never a key, serial secret or path
// to one — so any reader of the station directory may see it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../io/files.ts';
import type { StationConfig } from './config.ts';
import { STEP_ORDER } from './journal.ts';

export type PortState = 'running' | 'provisioned' | 'failed';

export interface LivePort {
  port: string;
  state: PortState;
  /** The step in progress or last done: connecting, identify, … record. */
  step: string;
  /** Steps done out of `steps` (connecting counts as the first). */
  done: number;
  steps: number;
  deviceId: string | null;
  /** Why it failed (the pipeline's FAILED line), when state is failed. */
  reason: string | null;
  /** The last progress line, as the station printed it. */
  line: string;
  updatedAt: string;
}

export interface LivePortsSnapshot {
  station: string;
  /** The provisioning process writing it (a reader can tell a stale file from a live one). */
  pid: number;
  startedAt: string;
  updatedAt: string;
  /** Set when the run ended (the writer closed): the ports show its outcome, nothing moves. */
  finished: boolean;
  ports: Record<string, LivePort>;
}

const STEPS = ['connecting', ...STEP_ORDER];

export function livePortsPath(cfg: Pick<StationConfig, 'baseDir' | 'station'>): string {
  return join(cfg.baseDir, `${cfg.station.id}.ports.json`);
}

export function readLivePorts(path: string): LivePortsSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LivePortsSnapshot;
  } catch {
    return undefined;
  }
}

/** Folds one progress line into the snapshot; returns whether it changed anything. */
export function applyProgressLine(snap: LivePortsSnapshot, line: string, at: string): boolean {
  const m = /^\[([^\]]+)\] (.*)$/.exec(line);
  if (!m) return false;
  const [, port, text] = m as unknown as [string, string, string];
  const was = snap.ports[port];
  const p: LivePort = was && text !== 'connecting' ? { ...was } : { port, state: 'running', step: 'connecting', done: 0, steps: STEPS.length, deviceId: null, reason: null, line, updatedAt: at };
  p.line = line;
  p.updatedAt = at;
  const done = /^done: (\S+) provisioned/.exec(text);
  const step = /^([a-z]+)(?::|$)/.exec(text)?.[1];
  if (done) Object.assign(p, { state: 'provisioned', step: 'record', done: STEPS.length, deviceId: done[1]! });
  else if (text.startsWith('FAILED: ')) Object.assign(p, { state: 'failed', reason: text.slice('FAILED: '.length) });
  else if (text.startsWith('failed: ')) Object.assign(p, { state: 'failed', reason: p.reason ?? text.slice('failed: '.length).replace(/ \([\d.]+s\)$/, '') });
  else if (step !== undefined && STEPS.includes(step)) Object.assign(p, { step, done: Math.max(p.done, STEPS.indexOf(step) + 1) });
  const id = /^identity: certificate \S+ for (\S+), /.exec(text)?.[1];
  if (id !== undefined) p.deviceId = id;
  snap.ports[port] = p;
  snap.updatedAt = at;
  return true;
}

/** Writes the snapshot as lines come (at most every `intervalMs`), and once more at close. */
export class LivePortsWriter {
  private readonly snap: LivePortsSnapshot;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    station: string,
    private readonly intervalMs = 200,
    private readonly clock: () => Date = () => new Date(),
  ) {
    const now = this.clock().toISOString();
    this.snap = { station, pid: process.pid, startedAt: now, updatedAt: now, finished: false, ports: {} };
    this.flush();
  }

  line(text: string): void {
    if (!applyProgressLine(this.snap, text, this.clock().toISOString())) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.intervalMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.snap.finished = true;
    this.flush();
  }

  private flush(): void {
    try {
      writeFileDurable(this.path, `${JSON.stringify(this.snap, null, 1)}\n`);
    } catch {
      // A live view is a convenience: a full disk or a read-only station dir must not stop provisioning.
    }
  }
}
