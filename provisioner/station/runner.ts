// The station runner (DESIGN.md "provisioner/"): drives many ports through the per-board
// pipeline at once, one progress line per step per port, and renders the run's summary.
import { StationError, provisionBoard, type BoardOutcome, type PipelineContext } from './pipeline.ts';
import { renderTable } from '../io/table.ts';

export interface RunStationOptions {
  /** Boards provisioned at the same time; default all of them. */
  concurrency?: number;
  /** Receives every progress line, `[port] step…`. */
  onLine?: (line: string) => void;
  /**
   * Ctrl-C: each board stops at its next safe point — before connecting, or right after the
   * identify, compose or plan step (journal written, nothing on the board yet); a board
   * already flashing finishes. Boards not started stay untouched. Stopped boards fail with
   * station.interrupted, and a re-run resumes them from their journals.
   */
  signal?: AbortSignal;
}

/** The progress lines after which a board may stop: nothing half-done, the journal up to date. */
const SAFE_STOP = /^(connecting$|(identify|compose|plan): )/;

function stopAtSafePoint(signal: AbortSignal | undefined, text: string): void {
  if (!signal?.aborted || !SAFE_STOP.test(text)) return;
  const where = text === 'connecting' ? 'before connecting' : `after the ${text.slice(0, text.indexOf(':'))} step`;
  throw new StationError('station.interrupted', `stopped by Ctrl-C ${where}`, { hint: 'run the same command again: the board resumes from its journal' });
}

/** Provisions every port (never throws for a board's failure); outcomes in the order of `portUrls`. */
export async function runStation(ctx: PipelineContext, portUrls: readonly string[], opts: RunStationOptions = {}): Promise<BoardOutcome[]> {
  const ports = [...new Set(portUrls)];
  const width = Math.max(1, Math.min(opts.concurrency ?? ports.length, ports.length));
  const inner = ctx.onProgress;
  const boardCtx: PipelineContext = {
    ...ctx,
    onProgress: (line) => {
      inner?.(line);
      const shown = progressLine(line, ports);
      opts.onLine?.(shown);
      stopAtSafePoint(opts.signal, shown.replace(/^\[[^\]]*\] /, ''));
    },
  };
  const outcomes: BoardOutcome[] = new Array(ports.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < ports.length; i = next++) {
      if (opts.signal?.aborted) {
        outcomes[i] = notStarted(ports[i] as string);
        continue;
      }
      outcomes[i] = await provisionBoard(boardCtx, ports[i] as string);
      opts.onLine?.(doneLine(outcomes[i] as BoardOutcome));
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return outcomes;
}

function notStarted(portUrl: string): BoardOutcome {
  const error = { code: 'station.interrupted', message: 'not started: stopped by Ctrl-C', hint: 'run the same command again' };
  return { portUrl, ok: false, mac: null, deviceId: null, record: null, error, resumed: false, steps: [], revoked: [], durationMs: 0 };
}

/** The pipeline says `port: text`; the station shows `[port] text`. */
function progressLine(line: string, ports: Iterable<string>): string {
  for (const port of ports) if (line.startsWith(`${port}: `)) return `[${port}] ${line.slice(port.length + 2)}`;
  return line;
}

function doneLine(o: BoardOutcome): string {
  return `[${o.portUrl}] ${o.ok ? `done: ${o.deviceId} provisioned` : `failed: ${o.error?.code ?? 'unknown'}`} (${seconds(o.durationMs)})`;
}

export interface WatchStationOptions {
  /** The ports present now (e.g. listPorts() filtered by the station's USB ids). */
  list: () => Promise<string[]>;
  /** Stops watching; boards already started are finished, then the outcomes are returned. */
  signal: AbortSignal;
  /** Time between two looks at the ports; default 1000 ms. */
  intervalMs?: number;
  onLine?: (line: string) => void;
  /** Each board's outcome as soon as it is known. */
  onOutcome?: (outcome: BoardOutcome) => void;
}

/**
 * Provisions each board as it is plugged in: a port that appears (also one present at the
 * start) is provisioned once; it is provisioned again only after it has gone and come back
 * (the next board on that cable). A failed listing is reported and retried.
 */
export async function watchStation(ctx: PipelineContext, opts: WatchStationOptions): Promise<BoardOutcome[]> {
  const outcomes: BoardOutcome[] = [];
  const inFlight = new Map<string, Promise<void>>();
  let present = new Set<string>();
  const inner = ctx.onProgress;
  const boardCtx: PipelineContext = {
    ...ctx,
    onProgress: (line) => {
      inner?.(line);
      opts.onLine?.(progressLine(line, inFlight.keys()));
    },
  };
  while (!opts.signal.aborted) {
    let now: string[];
    try {
      now = [...new Set(await opts.list())];
    } catch (e) {
      opts.onLine?.(`cannot list ports: ${e instanceof Error ? e.message : String(e)}; retrying`);
      now = [...present];
    }
    for (const port of now) {
      if (present.has(port) || inFlight.has(port) || opts.signal.aborted) continue;
      opts.onLine?.(`[${port}] plugged in`);
      const job = provisionBoard(boardCtx, port).then((o) => {
        outcomes.push(o);
        opts.onLine?.(doneLine(o));
        opts.onOutcome?.(o);
        inFlight.delete(port);
      });
      inFlight.set(port, job);
    }
    present = new Set(now);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, opts.intervalMs ?? 1000);
      function done() {
        clearTimeout(timer);
        opts.signal.removeEventListener('abort', done);
        resolve();
      }
      opts.signal.addEventListener('abort', done, { once: true });
    });
  }
  await Promise.all(inFlight.values());
  return outcomes;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export interface SummaryRow {
  port: string;
  deviceId: string | null;
  mac: string | null;
  result: 'provisioned' | 'failed';
  resumed: boolean;
  durationMs: number;
  /** Why it failed: `code: message`; null when provisioned. */
  reason: string | null;
}

export function summaryRows(outcomes: readonly BoardOutcome[]): SummaryRow[] {
  return outcomes.map((o) => ({
    port: o.portUrl,
    deviceId: o.deviceId,
    mac: o.mac,
    result: o.ok ? 'provisioned' : 'failed',
    resumed: o.resumed,
    durationMs: o.durationMs,
    reason: o.error ? `${o.error.code}: ${o.error.message}` : null,
  }));
}

const HEADERS = ['PORT', 'DEVICE ID', 'MAC', 'RESULT', 'TIME', 'REASON'] as const;

/** The summary table: left-aligned columns two spaces apart, then a count line. */
export function renderSummary(outcomes: readonly BoardOutcome[]): string[] {
  const rows = summaryRows(outcomes).map((r) => [
    r.port,
    r.deviceId ?? '-',
    r.mac ?? '-',
    r.result + (r.resumed ? ' (resumed)' : ''),
    seconds(r.durationMs),
    r.reason ?? '',
  ]);
  const ok = outcomes.filter((o) => o.ok).length;
  const failed = outcomes.length - ok;
  return [...renderTable(HEADERS, rows), `${ok} provisioned, ${failed} failed`];
}
