// `espfleet sim fleet`: a headless fleet of virtual boards in this one process
// (hil-tests/fleet/), provisioned by the station's own pipeline over the direct fast path and
// run with the real agent until SIGINT/SIGTERM — for rollouts, dashboards and load at scale.
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startHeadlessFleet, type FleetMemory, type HeadlessFleet } from '../../../../hil-tests/fleet/headless-fleet.ts';
import { intArg, UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';
import { loadStationConfig } from '../../../station/config.ts';
import { openStation } from '../../../station/open-station.ts';
import { STATION_ENV } from '../devices/station-paths.ts';

interface Options {
  count: number;
  station?: string;
  mqttServer?: string;
  plaintext?: number;
  prefix?: string;
  concurrency?: number;
  json?: boolean;
}

/** How often a running fleet says how it is doing (stderr). */
const STATUS_EVERY_MS = 10_000;
const MiB = 1024 * 1024;

/** A station directory (holding station.toml) or the file itself; else $ESPFLEET_STATION, else ./station.toml. */
function stationFile(ctx: CliContext, given: string | undefined): string {
  const path = given ?? (ctx.env[STATION_ENV] || undefined);
  const candidate = resolve(ctx.cwd, path ?? 'station.toml');
  const file = existsSync(candidate) && statSync(candidate).isDirectory() ? join(candidate, 'station.toml') : candidate;
  if (!existsSync(file)) {
    throw new UsageError('cli.bad_argument', `no station config at ${file}`, { hint: `give --station <dir or station.toml>, or set ${STATION_ENV}` });
  }
  return file;
}

function mqttServerArg(text: string): string {
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(text)) throw new UsageError('cli.bad_argument', `--mqtt-server takes host:port, got ${JSON.stringify(text)}`, { hint: 'e.g. --mqtt-server 127.0.0.1:8883' });
  return text;
}

export function registerFleet(sim: Command, ctx: CliContext): void {
  sim
    .command('fleet')
    .description('provision N headless virtual boards through a station and run them with the real agent until stopped')
    .requiredOption('--count <n>', 'number of boards', intArg(1, 100_000))
    .option('--station <dir|station.toml>', `the station that provisions them (a directory holding station.toml, or the file; else $${STATION_ENV}, else ./station.toml)`)
    .option('--mqtt-server <host:port>', "the MQTT broker the boards are configured with, host:port (default the station's mqtt.server)", mqttServerArg)
    .option('--plaintext <n>', "of the boards, how many (the last ones) get flash encryption off whatever the station's mode; their identical flash sectors are shared", intArg(0, 100_000))
    .option('--prefix <name>', 'board names are <prefix>-<n>, ports sim://<prefix>-<n> (default: the station id)')
    .option('--concurrency <n>', 'boards provisioned at the same time (default 16)', intArg(1, 256))
    .option('--json', 'on exit, print the boards and the memory figures as JSON instead of the summary')
    .addHelpText(
      'after',
      `
Each board is a virtual ESP32 with its own flash, eFuses, key and certificate, running the
Mongoose OS double with the real agent and its own MQTT/TLS connection to the broker. The
station provisions them with its own pipeline — identity, certificate, conf9.json,
escrowed flash-encryption key, eFuse burns, registry record and audit entries, as for a
real board — but writes each board's flash directly instead of over the ROM protocol (the
fast path). The boards live in this process only: once it stops they are gone, while the
station's registry, audit log, journals and keystore keep what was done.

Progress goes to stderr: one line per board provisioned, then every ${STATUS_EVERY_MS / 1000} s the boards
online (holding an MQTT session) and the process's RSS. Stop with Ctrl-C (SIGINT) or
SIGTERM: provisioning stops at the next safe point of each board (a re-run resumes
nothing: the boards are new ones), running boards are powered off, and the summary
(boards provisioned, failed, online, memory) is printed on stdout. Exit status 0 when
every board was provisioned, 1 otherwise.

Boards with flash encryption off (station mode off, or --plaintext) share identical 4 KiB
flash sectors copy-on-write; encrypted boards cannot (every key gives other bytes).

Examples:
  espfleet sim fleet --count 100 --station /srv/line1
  espfleet sim fleet --count 1000 --station station.toml --mqtt-server 127.0.0.1:8883 --plaintext 1000
  espfleet sim fleet --count 6 --station line1 --plaintext 2 --prefix demo --json > fleet.json
  espfleet ota rollout start --station /srv/line1/station.toml --select all …   # from another shell`,
    )
    .action(async (opts: Options) => {
      const cfg = loadStationConfig(stationFile(ctx, opts.station));
      const stop = new AbortController();
      let signals = 0;
      const onSignal = () => {
        // A second signal while stopping: at once.
        if (++signals > 1) process.exit(130);
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const station = await openStation(cfg, ctx, opts.mqttServer ? { overrides: { mqttServer: opts.mqttServer } } : {});
      let fleet: HeadlessFleet | undefined;
      try {
        ctx.note(`station ${cfg.station.id}: provisioning ${opts.count} headless board${opts.count === 1 ? '' : 's'} (encryption ${cfg.encryption.mode}${opts.plaintext ? `, ${Math.min(opts.plaintext, opts.count)} plaintext` : ''}), broker ${station.ctx.mqttServer}`);
        const t0 = Date.now();
        fleet = await startHeadlessFleet({
          station,
          count: opts.count,
          ...(opts.plaintext !== undefined ? { plaintext: opts.plaintext } : {}),
          ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
          ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
          signal: stop.signal,
          onLine: (line) => {
            if (/^\[[^\]]+\] (done|failed):/.test(line)) ctx.note(line);
          },
        });
        const ok = fleet.provisioned().length;
        ctx.note(`${ok} provisioned, ${opts.count - ok} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s; running until Ctrl-C or SIGTERM`);
        await runUntil(stop.signal, fleet, ctx);
      } finally {
        fleet?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await station.close();
      }
      report(ctx, fleet, opts);
    });
}

async function runUntil(signal: AbortSignal, fleet: HeadlessFleet, ctx: CliContext): Promise<void> {
  const running = fleet.provisioned().length;
  let allOnline = false;
  const status = () => {
    const online = fleet.online();
    if (online === running && running > 0 && !allOnline) ctx.note(`all ${running} boards online`);
    allOnline = online === running;
    ctx.note(`online ${online}/${running}, RSS ${(process.memoryUsage().rss / MiB).toFixed(0)} MiB`);
  };
  const timer = setInterval(status, STATUS_EVERY_MS);
  try {
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    clearInterval(timer);
  }
}

function report(ctx: CliContext, fleet: HeadlessFleet | undefined, opts: Options): void {
  const boards = fleet?.boards ?? [];
  const ok = boards.filter((b) => b.outcome.ok);
  const memory: FleetMemory | undefined = fleet?.memory();
  if (opts.json) {
    ctx.json({
      boards: boards.map((b) => ({ name: b.name, port: b.url, deviceId: b.deviceId, mac: b.outcome.mac, encrypted: b.encrypted, provisioned: b.outcome.ok, error: b.outcome.error })),
      provisioned: ok.length,
      failed: boards.length - ok.length,
      memory,
    });
  } else {
    ctx.out(`${ok.length} provisioned, ${boards.length - ok.length} failed (${boards.filter((b) => b.encrypted).length} encrypted, ${boards.filter((b) => !b.encrypted).length} plaintext)`);
    for (const b of boards.filter((x) => !x.outcome.ok)) ctx.out(`  ${b.url}: ${b.outcome.error?.code ?? 'unknown'}: ${b.outcome.error?.message ?? ''}`);
    if (memory) {
      const f = memory.flash;
      ctx.out(`memory: RSS ${(memory.rssBytes / MiB).toFixed(0)} MiB (${(memory.rssBytes / Math.max(1, boards.length) / 1024).toFixed(0)} KiB per board), flash ${f.ownSectors} own + ${f.sharedSectors} shared sectors (${f.distinctSharedSectors} distinct)`);
    }
  }
  if (boards.length === 0 || ok.length < boards.length) throw new ExitCode(1);
}
