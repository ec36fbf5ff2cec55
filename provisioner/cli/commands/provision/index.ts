// `espfleet provision`: the factory station — every port of station.toml (or --port)
// provisioned at once through the resumable pipeline; progress on stderr, summary on stdout.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { collect, intArg, UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { ExitCode, Interrupted } from '../../exit.ts';
import { loadStationConfig, type StationConfig } from '../../../station/config.ts';
import { openStation } from '../../../station/open-station.ts';
import { runStation, summaryRows, watchStation } from '../../../station/runner.ts';
import { renderTable } from '../../format.ts';
import type { BoardOutcome } from '../../../station/pipeline.ts';
import { checkPorts, stationPorts, watchedPorts } from '../../../station/station-ports.ts';
import { LivePortsWriter, livePortsPath } from '../../../station/live-ports.ts';
import { STATION_ENV, withRegistryOverride } from '../devices/station-paths.ts';
import { addProgressOptions, progressFor, type ProgressCliOptions } from '../../progress.ts';

interface Options extends ProgressCliOptions {
  station?: string;
  registry?: string;
  port?: string[];
  reprovision?: boolean;
  concurrency?: number;
  watch?: boolean;
  json?: boolean;
}

function stationFile(ctx: CliContext, station: string | undefined): string {
  const given = station ?? (ctx.env[STATION_ENV] || undefined);
  if (given !== undefined) return resolve(ctx.cwd, given);
  const local = resolve(ctx.cwd, 'station.toml');
  if (existsSync(local)) return local;
  throw new UsageError('cli.bad_argument', 'no station config: give --station <station.toml>', {
    hint: `or set ${STATION_ENV}, or run in the directory that holds station.toml`,
  });
}

export function registerProvision(program: Command, ctx: CliContext): void {
  addProgressOptions(program.command('provision'))
    .option('--station <station.toml>', `station config (else $${STATION_ENV}, else ./station.toml)`)
    .option('--registry <path|url>', 'registry file or postgres:// URL (else $ESPFLEET_REGISTRY, else paths.registry of the config)')
    .option('--port <url>', 'a port to provision (repeatable); default: ports.urls and ports.usb of the config', collect)
    .option('--reprovision', 'give boards already provisioned a new identity and firmware (the old certificate is revoked)')
    .option('--concurrency <n>', 'boards provisioned at the same time (default: all)', intArg(1, 256))
    .option('--watch', 'keep running and provision each board as it is plugged in (USB ports matching [[ports.usb]]); Ctrl-C stops')
    .option('--json', 'print the outcomes as JSON instead of the summary table')
    .addHelpText(
      'after',
      `
Everything comes from the station config (see docs/station.example.toml): the CA, the
keystore, the signed bundle and its signing keys, the registry, the audit log and the
journal directory. Ports are the --port URLs, else ports.urls plus every attached USB
serial port matching a [[ports.usb]] vid/pid filter.

Before any board is touched: the config is checked (an error names the key path), every
port must exist, the CA passphrase (ca.passphrase_file, else $ESPFLEET_CA_PASSPHRASE,
else a prompt) and the keystore secret (keystore.key_file / passphrase_file, else
$ESPFLEET_KEYSTORE_PASSPHRASE, else a prompt) must unlock, and the bundle must carry the
required signatures.

Each board runs independently and resumably: after a power cut or a crash, run the same
command again and each board continues from its journal. Progress (one line per step,
"[port] step…") goes to stderr; the summary (port, device id, MAC, result, time, reason)
to stdout. Exit status: 0 when every board was provisioned, 1 otherwise.

With --watch the station polls the USB serial ports every second and provisions each
board that appears (matching a [[ports.usb]] filter, else any known ESP32 USB bridge);
a board is provisioned again only after its port went away and came back. Ctrl-C stops
watching: boards already started are finished, then the summary is printed.

Examples:
  espfleet provision --station /srv/line1/station.toml
  espfleet provision --station station.toml --port /dev/ttyUSB0 --port /dev/ttyUSB1
  ESPFLEET_CA_PASSPHRASE=… espfleet provision --station station.toml --reprovision --json
  espfleet provision --station station.toml --watch`,
    )
    .action(async (opts: Options) => {
      const cfg = withRegistryOverride(ctx, loadStationConfig(stationFile(ctx, opts.station)), opts.registry);
      if (opts.watch) {
        if ((opts.port ?? []).length > 0) throw new UsageError('cli.bad_argument', 'give --watch or --port, not both', { hint: '--watch picks up USB ports as boards are plugged in' });
        return watch(ctx, cfg, opts);
      }
      const ports = await stationPorts(cfg, opts.port ?? []);
      if (ports.length === 0) {
        throw new UsageError('cli.bad_argument', `no ports to provision: give --port <url> or set ports.urls / [[ports.usb]] in ${cfg.source}`, {
          hint: 'run `espfleet ports` to see the attached serial ports, or use --watch',
        });
      }
      checkPorts(ports);
      const station = await openStation(cfg, ctx, { ...(opts.reprovision ? { reprovision: true } : {}) });
      let outcomes: BoardOutcome[];
      const release = ctx.interrupt?.hold();
      const signal = ctx.interrupt?.signal;
      const progress = progressFor(ctx, opts);
      // The ports as they go, for the dashboard (station/live-ports.ts).
      const live = new LivePortsWriter(livePortsPath(cfg), cfg.station.id);
      try {
        progress.note(`station ${cfg.station.id}: provisioning ${ports.length} board${ports.length === 1 ? '' : 's'} (${ports.join(', ')}), encryption ${cfg.encryption.mode}`);
        outcomes = await runStation(station.ctx, ports, {
          ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
          ...(signal ? { signal } : {}),
          onLine: (l) => (progress.note(l), live.line(l)),
        });
      } finally {
        live.close();
        progress.done();
        release?.();
        await station.close();
      }
      if (signal?.aborted) reportInterrupted(ctx, outcomes, opts, station.ctx.journalDir);
      report(ctx, outcomes, opts);
    });
}

function report(ctx: CliContext, outcomes: readonly BoardOutcome[], opts: Options): void {
  if (opts.json) {
    ctx.json(summaryRows(outcomes).map((row, i) => ({ ...row, error: outcomes[i]?.error ?? null, record: outcomes[i]?.record ?? null })));
  } else {
    for (const line of summaryTable(outcomes)) ctx.out(line);
  }
  if (outcomes.some((o) => !o.ok)) throw new ExitCode(1);
}

/** The summary: the columns the help names (port, device id, MAC, result, time, reason), then a count. */
export function summaryTable(outcomes: readonly BoardOutcome[]): string[] {
  const rows = summaryRows(outcomes).map((r) => [r.port, r.deviceId ?? '-', r.mac ?? '-', r.result + (r.resumed ? ' (resumed)' : ''), `${(r.durationMs / 1000).toFixed(1)}s`, r.reason ?? '']);
  const ok = outcomes.filter((o) => o.ok).length;
  return [...renderTable(['PORT', 'DEVICE ID', 'MAC', 'RESULT', 'TIME', 'REASON'], rows), `${ok} provisioned, ${outcomes.length - ok} failed`];
}

/**
 * After Ctrl-C: the summary as usual, then per board what state it was left in, and one
 * `interrupted:` line with the command that resumes the stopped boards (exit 130).
 */
function reportInterrupted(ctx: CliContext, outcomes: readonly BoardOutcome[], opts: Options, journalDir: string): never {
  try {
    report(ctx, outcomes, opts);
  } catch (e) {
    if (!(e instanceof ExitCode)) throw e;
  }
  const stopped = outcomes.filter((o) => o.error?.code === 'station.interrupted');
  for (const o of stopped) ctx.note(`[${o.portUrl}] ${boardStateAfterStop(o)}`);
  const done = outcomes.filter((o) => o.ok).length;
  const failed = outcomes.length - done - stopped.length;
  const again = stopped.map((o) => `--port ${o.portUrl}`).join(' ');
  throw new Interrupted(
    'cli.interrupted',
    `provisioning stopped by Ctrl-C: ${stopped.length} board(s) stopped at a safe point before anything was written to them, ${done} provisioned, ${failed} failed; the journals in ${journalDir} are up to date`,
    {
      hint:
        stopped.length > 0
          ? `run the same command again${opts.port ? '' : ` (or with ${again})`}: each stopped board resumes from its journal; a certificate issued but never written is revoked as superseded and a new one issued`
          : 'nothing is left to resume',
    },
  );
}

function boardStateAfterStop(o: BoardOutcome): string {
  const last = o.steps[o.steps.length - 1];
  if (o.mac === null) return 'not started: the board was not opened';
  const who = `${o.deviceId ?? '?'} (${o.mac})`;
  if (last === undefined || last === 'identify') return `${who}: identified, nothing issued or written; journal up to date`;
  return `${who}: stopped after the ${last} step; a certificate was issued but nothing was written to the board (the re-run revokes it and issues a new one); journal up to date`;
}

async function watch(ctx: CliContext, cfg: StationConfig, opts: Options): Promise<void> {
  const station = await openStation(cfg, ctx, { ...(opts.reprovision ? { reprovision: true } : {}) });
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  let outcomes: BoardOutcome[];
  const progress = progressFor(ctx, opts);
  const live = new LivePortsWriter(livePortsPath(cfg), cfg.station.id);
  try {
    const filters = cfg.ports.usb.map((f) => `${f.vid.toString(16).padStart(4, '0')}:${f.pid === null ? '*' : f.pid.toString(16).padStart(4, '0')}`);
    progress.note(`station ${cfg.station.id}: watching for boards on USB ${filters.length > 0 ? filters.join(', ') : 'ESP32 bridges'}, encryption ${cfg.encryption.mode}; Ctrl-C stops`);
    outcomes = await watchStation(station.ctx, { list: () => watchedPorts(cfg), signal: stop.signal, onLine: (l) => (progress.note(l), live.line(l)) });
  } finally {
    live.close();
    progress.done();
    process.removeListener('SIGINT', onSigint);
    await station.close();
  }
  report(ctx, outcomes, opts);
}
