// The one progress reporter of the CLI (docs/cli.md "Progress"): every long command
// (flash, encrypt-flash, provision, device fs put/get) reports phases and byte counts here,
// and this module decides how they look: a redrawn bar with bytes, rate and ETA on a
// terminal; plain lines a log reader or CI can follow (at each phase change, at the end of
// a phase and at least every 5 s while work goes on); JSON lines; or nothing (--quiet).
// Progress always goes to stderr, so a command's result on stdout stays clean. The clock
// and the heartbeat timer are parameters, so tests assert by content, never by timing.
import { Option, type Command } from 'commander';

export const PROGRESS_MODES = ['auto', 'bar', 'lines', 'json', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  mode?: ProgressMode;
  /** Where progress goes (the command's stderr). */
  stream: ProgressStream;
  /** Milliseconds, monotonic enough for rates; default Date.now. */
  now?: () => number;
  /** A plain line is printed at least this often while work goes on; default 5000 ms. */
  intervalMs?: number;
  /** Starts the heartbeat that keeps lines coming while nothing reports; default setInterval (unref'd). */
  every?: (ms: number, fn: () => void) => () => void;
}

export interface Progress {
  /** Starts a phase (a line in lines mode); `total` in bytes when known. */
  phase(name: string, total?: number): void;
  /** Bytes done of the current phase (and its total, if it changed). */
  update(done: number, total?: number): void;
  /** A free-standing line: a step, a finding. Shown in bar and lines modes, an event in JSON. */
  note(text: string): void;
  /** Ends the report: the last line, and the heartbeat stops. */
  done(): void;
  readonly mode: Exclude<ProgressMode, 'auto'>;
}

export interface ProgressCliOptions {
  progress?: ProgressMode;
  quiet?: boolean;
}

/** `--progress <mode>` and `--quiet`, for every command that does long work. */
export function addProgressOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--progress <mode>', 'how progress is shown on stderr: auto (a bar on a terminal, else lines), bar, lines, json (JSON lines) or none')
        .choices([...PROGRESS_MODES])
        .default('auto'),
    )
    .option('-q, --quiet', 'no progress and no notes on stderr (errors and warnings still)');
}

export function progressModeOf(opts: ProgressCliOptions): ProgressMode {
  return opts.quiet ? 'none' : (opts.progress ?? 'auto');
}

interface State {
  name: string;
  total: number | undefined;
  done: number;
  startedAt: number;
}

const BAR = 24;

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 5000;
  const requested = opts.mode ?? 'auto';
  const mode: Progress['mode'] = requested === 'auto' ? (opts.stream.isTTY ? 'bar' : 'lines') : requested;
  const write = (s: string) => void opts.stream.write(s);
  let cur: State | undefined;
  let lastLineAt = now();
  let lastJsonAt = -Infinity;
  let drawnAt = -Infinity;
  let barShown = false;
  let finished = false;
  let lastNote: string | undefined;

  const line = (text: string) => {
    if (mode === 'bar' && barShown) write('\r\x1b[K');
    write(`${text}\n`);
    barShown = false;
    lastLineAt = now();
  };
  const event = (type: string, extra: Record<string, unknown>) => {
    write(`${JSON.stringify({ type, ...extra })}\n`);
    lastJsonAt = now();
    lastLineAt = lastJsonAt;
  };
  const figures = (s: State) => {
    const elapsed = Math.max(0, now() - s.startedAt);
    const rate = elapsed > 0 ? (s.done * 1000) / elapsed : 0;
    const eta = s.total !== undefined && rate > 0 ? Math.max(0, (s.total - s.done) / rate) : undefined;
    return { elapsed, rate, eta };
  };
  const stateJson = (s: State) => {
    const f = figures(s);
    return { phase: s.name, done: s.done, total: s.total ?? null, bytesPerSecond: Math.round(f.rate), etaSeconds: f.eta === undefined ? null : Math.round(f.eta), elapsedMs: f.elapsed };
  };
  const stateText = (s: State) => {
    const f = figures(s);
    const amount = s.total === undefined ? formatBytes(s.done) : `${formatBytes(s.done)} of ${formatBytes(s.total)} (${percent(s.done, s.total)}%)`;
    const rate = f.rate > 0 ? `, ${formatBytes(f.rate)}/s` : '';
    const eta = f.eta !== undefined && s.total !== undefined && s.done < s.total ? `, ETA ${formatDuration(f.eta)}` : '';
    return `${s.name}: ${amount}${rate}${eta}`;
  };
  const drawBar = (s: State) => {
    const frac = s.total ? Math.min(1, s.done / s.total) : s.total === 0 ? 1 : 0;
    const filled = Math.round(frac * BAR);
    write(`\r[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${stateText(s)}\x1b[K`);
    barShown = true;
    drawnAt = now();
  };
  const phaseEnded = (s: State) => s.total !== undefined && s.done >= s.total;

  const heartbeat = () => {
    if (finished || now() - lastLineAt < interval) return;
    const since = formatDuration((now() - lastLineAt) / 1000);
    if (mode === 'lines') line(cur ? `${stateText(cur)} (still working)` : `still working (${since} since: ${lastNote ?? 'start'})`);
    else if (mode === 'json') event('heartbeat', cur ? stateJson(cur) : { last: lastNote ?? null });
  };
  const every = opts.every ?? ((ms, fn) => {
    const t = setInterval(fn, ms);
    t.unref?.();
    return () => clearInterval(t);
  });
  const stopHeartbeat = mode === 'lines' || mode === 'json' ? every(Math.max(1, Math.floor(interval / 5)), heartbeat) : () => {};

  return {
    mode,
    phase(name, total) {
      cur = { name, total, done: 0, startedAt: now() };
      if (mode === 'lines') line(stateText(cur));
      else if (mode === 'json') event('phase', stateJson(cur));
      else if (mode === 'bar') drawBar(cur);
    },
    update(done, total) {
      if (!cur) return;
      const wasEnded = phaseEnded(cur);
      cur.done = done;
      if (total !== undefined) cur.total = total;
      const ended = phaseEnded(cur) && !wasEnded;
      if (mode === 'lines') {
        if (ended || now() - lastLineAt >= interval) line(stateText(cur));
      } else if (mode === 'json') {
        if (ended || now() - lastJsonAt >= 250) event('progress', stateJson(cur));
      } else if (mode === 'bar') {
        if (ended || now() - drawnAt >= 100) drawBar(cur);
      }
    },
    note(text) {
      lastNote = text;
      if (mode === 'none') return;
      if (mode === 'json') return event('note', { text });
      line(text);
      if (mode === 'bar' && cur && !phaseEnded(cur)) drawBar(cur);
    },
    done() {
      if (finished) return;
      finished = true;
      stopHeartbeat();
      if (mode === 'bar' && barShown) write('\n');
      barShown = false;
    },
  };
}

/** A progress that shows nothing (for library calls without a terminal to talk to). */
export const silentProgress: Progress = { mode: 'none', phase() {}, update() {}, note() {}, done() {} };

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
}

function percent(done: number, total: number): number {
  return total === 0 ? 100 : Math.floor((100 * Math.min(done, total)) / total);
}

export function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The reporter for a command's parsed options, on its stderr. */
export function progressFor(io: { stderr: ProgressStream; progressClock?: ProgressClock }, opts: ProgressCliOptions): Progress {
  return createProgress({ mode: progressModeOf(opts), stream: io.stderr, ...(io.progressClock ?? {}) });
}

/** Tests give a clock and a heartbeat of their own (CliIo.progressClock). */
export type ProgressClock = Pick<ProgressOptions, 'now' | 'every' | 'intervalMs'>;
