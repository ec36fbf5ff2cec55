// `espfleet dashboard`: the local web dashboard (provisioner/dashboard/, docs/dashboard.md) —
// stations' ports, the device table, rollouts with their buttons, charts and the audit log,
// kept live over Server-Sent Events. Read-only unless the broker flags carry an operator's
// certificate; loopback by default, a token for anything else.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { MqttClient } from 'mqtt';
import { collect } from '../../args.ts';
import { BROKER_ENV, brokerClientOptions, connectBrokerClient, type BrokerClientOptions } from '../../broker-client.ts';
import type { CliContext } from '../../context.ts';
import { untilStopped } from '../../until-stopped.ts';
import { DashboardData } from '../../../dashboard/data.ts';
import { DashboardError } from '../../../dashboard/errors.ts';
import { LiveFeed } from '../../../dashboard/live.ts';
import { isLoopback, startDashboardServer, type DashboardControl } from '../../../dashboard/server.ts';
import { FleetError } from '../../../fleet/errors.ts';
import { FleetWatch, mqttBus } from '../../../fleet/fleet-watch.ts';
import { openStationAudit } from '../../../station/audit-sql.ts';
import { livePortsPath } from '../../../station/live-ports.ts';
import { isPostgresUrl, openRegistryAt } from '../../../station/open-registry.ts';
import { redactUrl } from '../../../station/registry-postgres.ts';
import { findStation, resolveRegistry, stationOption } from '../devices/station-paths.ts';
import { actorFrom } from '../ota/rollout-common.ts';
import { listenArg } from '../ota/serve.ts';

interface Options extends BrokerClientOptions {
  station?: string;
  registry?: string;
  auditLog?: string;
  portsFile?: string[];
  listen: { host: string; port: number };
  tokenFile?: string;
  json?: boolean;
}

function readToken(ctx: CliContext, file: string): string {
  const path = resolve(ctx.cwd, file);
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new DashboardError('dashboard.no_token_file', `cannot read the token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'check --token-file' });
  }
  if (token.length < 16) throw new DashboardError('dashboard.weak_token', `the token in ${path} is ${token.length} characters; at least 16 are needed`, { hint: 'e.g. openssl rand -base64 32 > token' });
  return token;
}

export function registerDashboard(program: Command, ctx: CliContext): void {
  brokerClientOptions(stationOption(program.command('dashboard')))
    .option('--registry <path|url>', 'registry file or postgres:// URL (else $ESPFLEET_REGISTRY, else paths.registry from the station config)')
    .option('--audit-log <path>', 'audit log file of a SQLite registry (instead of paths.audit from the station config)')
    .option('--ports-file <file>', "another station's live ports file (<station id>.ports.json beside its station.toml); repeatable", collect)
    .option('--listen <host:port>', 'address to serve on; port 0 picks a free one; not loopback only with --token-file', listenArg, { host: '127.0.0.1', port: 8080 })
    .option('--token-file <file>', 'a file holding the access token: every request then needs it (sign in at /login, or Authorization: Bearer)')
    .option('--json', 'print {"url", "control", "actor"} as one JSON line once serving')
    .addHelpText(
      'after',
      `
Open the printed URL in a browser. The page shows the station's ports as \`espfleet
provision\` works on them, the device table (search, status, firmware version, certificate
expiry; paged on the server), rollouts with their waves filling in as boards report, the
failures and their reasons, charts of certificate expiry by month and firmware versions
over time, and the audit log with its verification. Everything updates in place over
Server-Sent Events; nothing is loaded from the internet.

The registry is --registry, else $ESPFLEET_REGISTRY, else the station's paths.registry: a
SQLite file (its audit log the file beside it, --audit-log) or a postgres:// URL (the audit
chain is in the database). Without broker flags it shows the registry only. With them
(--broker, --client-cert, --client-key, --broker-ca) it also shows which boards are online,
and when the certificate is an operator's (espfleet ca client-cert --role operator) the
rollout buttons — pause, resume, abort, each behind a confirmation — work, audited as that
operator; otherwise the page is read-only. A rollout resumed from the page is driven by the
dashboard. The operator identity needs its own certificate: two clients with one CN evict
each other on the broker.

It listens on 127.0.0.1:8080 by default. Another address needs --token-file; put TLS in
front of it (a reverse proxy) when it leaves the machine. Stop with Ctrl-C or SIGTERM.

Examples:
  espfleet dashboard --station station.toml
  espfleet dashboard --station station.toml --broker mqtts://mqtt.example.net:8883 \\
    --client-cert alice.pem --client-key alice.key --broker-ca fleet-ca/chain.pem
  espfleet dashboard --registry registry.sqlite --audit-log audit.jsonl --listen 127.0.0.1:0 --json
  espfleet dashboard --registry postgres://espfleet@db.example:5432/fleet
  espfleet dashboard --station station.toml --listen 0.0.0.0:8080 --token-file /etc/espfleet/dashboard.token`,
    )
    .action(async (opts: Options) => {
      const token = opts.tokenFile !== undefined ? readToken(ctx, opts.tokenFile) : undefined;
      if (!isLoopback(opts.listen.host) && token === undefined) {
        throw new DashboardError('dashboard.needs_token', `--listen ${opts.listen.host}:${opts.listen.port} is not loopback: give --token-file`, {
          hint: 'or keep --listen 127.0.0.1:PORT and reach it through an SSH tunnel',
        });
      }
      const location = resolveRegistry(ctx, opts);
      const chainInRegistry = isPostgresUrl(location);
      // Never create a registry file here: an empty one would show nothing and hide the typo.
      if (!chainInRegistry && !existsSync(location)) throw new FleetError('fleet.rollout.no_registry', `no registry at ${location}`, { hint: 'check --registry or paths.registry in the station config (provisioning creates it)' });
      const station = opts.registry !== undefined && opts.station === undefined ? undefined : findStation(ctx, opts.station);
      const auditPath = opts.auditLog !== undefined ? resolve(ctx.cwd, opts.auditLog) : station?.paths.audit;
      const portsFiles = [...(station ? [livePortsPath(station)] : []), ...(opts.portsFile ?? []).map((f) => resolve(ctx.cwd, f))];

      const wantsBroker = (opts.broker ?? ctx.env[BROKER_ENV]) !== undefined || opts.clientCert !== undefined;
      const actor = opts.clientCert !== undefined ? actorFrom(ctx, opts.clientCert) : undefined;
      const operator = actor?.startsWith('operator:') === true;
      if (operator && !chainInRegistry && auditPath === undefined) throw new DashboardError('dashboard.needs_audit_log', 'the rollout buttons write audit entries: give --audit-log or --station', { hint: 'or start it without an operator certificate (read-only)' });

      const registry = await openRegistryAt(location, operator ? {} : { readOnly: true });
      let client: MqttClient | undefined;
      let server;
      try {
        let watch: FleetWatch | undefined;
        let control: DashboardControl | undefined;
        if (wantsBroker) {
          client = await connectBrokerClient(ctx, opts, { reconnect: true });
          watch = await FleetWatch.open(mqttBus(client));
        }
        if (operator && client && watch) {
          // On PostgreSQL the chain is the registry's own table and the path is not used.
          const audit = await openStationAudit(registry, auditPath ?? '');
          control = { actor: actor!, stores: { registry, audit }, client, watch };
        }
        const readOnlyReason = control ? undefined : actor === undefined ? 'started without an operator certificate' : `the client certificate is ${actor}, not an operator`;
        const data = new DashboardData({ registry, ...(auditPath !== undefined ? { auditPath } : {}), portsFiles });
        const feed = new LiveFeed({ data, ...(watch ? { watch } : {}) });
        server = await startDashboardServer({
          data,
          feed,
          host: opts.listen.host,
          port: opts.listen.port,
          ...(token !== undefined ? { token } : {}),
          ...(control ? { control } : {}),
          ...(watch ? { watch } : {}),
          ...(readOnlyReason ? { readOnlyReason } : {}),
        });
        // One line, so a script reading the running service line by line gets it whole.
        if (opts.json) ctx.out(JSON.stringify({ url: server.url, control: control !== undefined, actor: control?.actor ?? null }));
        else ctx.out(server.url);
        ctx.note(`dashboard of ${chainInRegistry ? redactUrl(location) : location}: ${control ? `operator ${control.actor} (rollout buttons on)` : `read-only (${readOnlyReason})`}${watch ? ', live board status from the broker' : ', no broker'}; Ctrl-C stops`);
        await untilStopped(ctx);
      } finally {
        await server?.close();
        await client?.endAsync().catch(() => undefined);
        await registry.close();
      }
      ctx.note('dashboard stopped');
    });
}

