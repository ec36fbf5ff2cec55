// Shared by the `ota rollout` commands that change a rollout (start, pause, resume, abort,
// rollback): the registry opened for writing with its audit log, who the actor is, the
// driver's progress as notes, and how a driven rollout ends (summary, --json, exit status).
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { MqttClient } from 'mqtt';
import type { CliContext } from '../../context.ts';
import { ExitCode, Interrupted } from '../../exit.ts';
import { progressFor, type ProgressCliOptions } from '../../progress.ts';
import { connectBrokerClient, type BrokerClientOptions } from '../../broker-client.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { FleetWatch, mqttBus } from '../../../fleet/fleet-watch.ts';
import { actorOf } from '../../../fleet/rollout-create.ts';
import { driveRollout, type DriverEvent } from '../../../fleet/rollout-driver.ts';
import type { RolloutRecord } from '../../../fleet/rollout-store.ts';
import { openStationAudit } from '../../../station/audit-sql.ts';
import { isPostgresUrl, openRegistryAt, type Registry } from '../../../station/open-registry.ts';
import type { AuditLog } from '../../../station/records.ts';
import { findStation, resolveRegistry, resolveStationPath, stationOption } from '../devices/station-paths.ts';
import { fleetTrust, type StationTrust } from '../../../fleet/station-trust.ts';
import { rolloutLines } from './rollout-status.ts';

export interface StoreCliOptions {
  station?: string;
  registry?: string;
  auditLog?: string;
  json?: boolean;
}

/** --station, --registry and --audit-log: a rollout's state and its audit trail. */
export function storeOptions(cmd: Command): Command {
  return stationOption(cmd)
    .option('--registry <path|url>', 'registry file or postgres:// URL (else $ESPFLEET_REGISTRY, else paths.registry from the station config)')
    .option('--audit-log <path>', 'audit log file (instead of paths.audit from the station config)');
}

export interface Stores {
  registry: Registry;
  audit: AuditLog;
  close(): Promise<void>;
}

export async function openStores(ctx: CliContext, opts: StoreCliOptions): Promise<Stores> {
  const registryPath = resolveRegistry(ctx, opts);
  const auditPath = resolveStationPath(ctx, { station: opts.station, explicit: opts.auditLog }, '--audit-log', (cfg) => cfg.paths.audit);
  // Never create a registry file here: a rollout lives in one that holds its boards.
  if (!isPostgresUrl(registryPath) && !existsSync(registryPath)) {
    throw new FleetError('fleet.rollout.no_registry', `no registry at ${registryPath}`, { hint: 'check --registry or paths.registry in the station config (provisioning creates it)' });
  }
  const registry = await openRegistryAt(registryPath);
  try {
    // The registry anchors (or, on PostgreSQL, holds) the audit chain, as provisioning does.
    const audit = await openStationAudit(registry, auditPath);
    return { registry, audit, close: () => registry.close() };
  } catch (e) {
    await registry.close();
    throw e;
  }
}

/**
 * Whether the boards take the bundle: those of the station in use by their update.key*,
 * sig_req_mask as the station wrote them (not when only --registry names the store), and
 * every board whose key state the registry holds by that state (station-trust.ts).
 */
export function trustFromStation(ctx: CliContext, opts: { station?: string; registry?: string }, bundlePath: string, registry?: Registry): Promise<StationTrust | undefined> {
  const cfg = opts.station === undefined && opts.registry !== undefined ? undefined : findStation(ctx, opts.station);
  return fleetTrust(cfg, registry, new Uint8Array(readFileSync(bundlePath)));
}

/** The actor of the audit entries: the client certificate's CN, else the login name. */
export function actorFrom(ctx: CliContext, clientCert: string | undefined): string {
  if (clientCert === undefined) return `user:${ctx.env.USER ?? ctx.env.LOGNAME ?? userInfo().username}`;
  const path = resolve(ctx.cwd, clientCert);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FleetError('fleet.mqtt.no_file', `cannot read the client certificate ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'check --client-cert' });
  }
  return actorOf(pem);
}

const list = (ids: readonly string[]) => (ids.length <= 8 ? ids.join(' ') : `${ids.slice(0, 8).join(' ')} … (+${ids.length - 8})`);

/** One line per driver event (docs/cli.md "Progress": lines a log reader can follow). */
export function describeEvent(e: DriverEvent): string | undefined {
  switch (e.type) {
    case 'wave-started':
      return `wave ${e.wave + 1} of ${e.waves} started: ${e.boards} board${e.boards === 1 ? '' : 's'}`;
    case 'wave-passed':
      return `wave ${e.wave + 1} of ${e.waves} passed`;
    case 'commanded':
      return e.ids.length === 0 ? undefined : `commanded ${list(e.ids)}`;
    case 'redelivered':
      return `sent again (no word since they were commanded; the same command id): ${list(e.ids)}`;
    case 'timed-out':
      return `timed out: ${list(e.ids)}`;
    case 'report': {
      const r = e.report;
      const what = e.status === 'downloading' ? (r.state === 'cmd_result' ? 'started' : r.state) : e.status;
      const extra = e.status === 'committed' ? (r.running !== undefined ? ` (now ${r.running})` : '') : r.reason !== undefined ? `: ${r.reason}` : '';
      return `${e.id}: ${what}${extra}`;
    }
    case 'online':
      return undefined;
  }
}

export interface DriveCliOptions extends BrokerClientOptions, ProgressCliOptions, StoreCliOptions {}

/**
 * Connects (a watch may be open already: start), drives the rollout until it ends, prints
 * the result and sets the exit status: 0 when done with every board committed or when
 * paused, 1 when aborted or when some board did not commit, 130 on Ctrl-C.
 */
export async function driveFromCli(
  ctx: CliContext,
  opts: DriveCliOptions,
  stores: Stores,
  id: string,
  actor: string,
  connected?: { client: MqttClient; watch: FleetWatch },
): Promise<void> {
  const client = connected?.client ?? (await connectBrokerClient(ctx, opts));
  const progress = progressFor(ctx, opts);
  const release = ctx.interrupt?.hold();
  let result;
  try {
    const watch = connected?.watch ?? (await FleetWatch.open(mqttBus(client)));
    progress.note(`rollout ${id}: driving as ${actor}`);
    result = await driveRollout({
      registry: stores.registry,
      audit: stores.audit,
      client,
      watch,
      id,
      actor,
      ...(ctx.interrupt ? { signal: ctx.interrupt.signal } : {}),
      onEvent: (e) => {
        const line = describeEvent(e);
        if (line !== undefined) progress.note(line);
      },
    });
  } finally {
    progress.done();
    release?.();
    await client.endAsync().catch(() => undefined);
  }
  finish(ctx, result.record, result.ended, opts.json === true);
}

export function finish(ctx: CliContext, rec: RolloutRecord, ended: 'done' | 'aborted' | 'paused' | 'stopped', json = false): void {
  if (ended === 'stopped') {
    throw new Interrupted('cli.interrupted', `rollout ${rec.id} stopped between steps (Ctrl-C); its state is in the registry, boards already commanded go on updating`, {
      hint: `espfleet ota rollout resume --id ${rec.id} continues it (no board is commanded twice)`,
    });
  }
  const boards = Object.values(rec.state.boards);
  const notCommitted = boards.filter((b) => b.status !== 'committed');
  if (json) ctx.json(rec);
  else for (const line of rolloutLines(rec, { boards: 'problems' })) ctx.out(line);
  if (ended === 'aborted') {
    ctx.note(`rollout ${rec.id} aborted: ${rec.state.abortReason ?? 'no reason recorded'}`);
    throw new ExitCode(1);
  }
  if (ended === 'paused') {
    ctx.note(`rollout ${rec.id} paused; \`espfleet ota rollout resume --id ${rec.id}\` continues it`);
    return;
  }
  if (notCommitted.length > 0) {
    ctx.note(`rollout ${rec.id} done, but ${notCommitted.length} of ${boards.length} boards did not commit: ${list(notCommitted.map((b) => `${b.id} (${b.status})`))}`);
    throw new ExitCode(1);
  }
  ctx.note(`rollout ${rec.id} done: all ${boards.length} boards committed ${rec.spec.bundle.version}`);
}
