// `espfleet registry …`: where the station's registry is and moving it (issue 18):
// `status` says which backend and what it holds; `migrate` moves a station's history,
// audit chain included, between registries of either backend (docs/registry.md).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { CliContext } from '../../context.ts';
import { verifyStationAudit } from '../../../station/audit-sql.ts';
import { normalizeRegistryLocation, openRegistryAt } from '../../../station/open-registry.ts';
import { redactUrl } from '../../../station/registry-postgres.ts';
import { auditLogBeside, moveRegistry } from '../../../station/registry-move.ts';
import { resolveRegistry, resolveStationPath, stationOption } from '../devices/station-paths.ts';
import { ExitCode } from '../../exit.ts';

export function registerRegistry(program: Command, ctx: CliContext): void {
  const registry = program.command('registry');

  stationOption(registry.command('status'))
    .description('which registry the station uses (SQLite file or PostgreSQL), its schema version, devices and audit entries')
    .option('--registry <path|url>', 'registry file or postgres:// URL (else $ESPFLEET_REGISTRY, else paths.registry of the station config)')
    .option('--audit-log <path>', 'audit log file of a SQLite registry (instead of paths.audit of the station config)')
    .option('--json', 'print the status as JSON')
    .addHelpText(
      'after',
      `
The password of a database URL is never printed.

Examples:
  espfleet registry status --station /srv/line1/station.toml
  ESPFLEET_REGISTRY=postgres://espfleet@db.example:5432/fleet espfleet registry status --json`,
    )
    .action(async (opts: { station?: string; registry?: string; auditLog?: string; json?: boolean }) => {
      const where = resolveRegistry(ctx, opts);
      const reg = await openRegistryAt(where, { readOnly: true });
      try {
        const auditPath = reg.dialect === 'postgres' ? undefined : (resolveAuditPath(ctx, opts) ?? auditLogBeside(reg.path));
        const audit = await verifyStationAudit(reg, auditPath ?? '');
        const status = {
          backend: reg.dialect,
          registry: reg.path,
          schemaVersion: await reg.schemaVersion(),
          devices: (await reg.list()).length,
          audit: { where: auditPath ?? 'in the registry', entries: audit.entries, ok: audit.ok },
        };
        if (opts.json) ctx.json(status);
        else {
          ctx.out(`registry: ${status.backend === 'postgres' ? 'PostgreSQL' : 'SQLite file'} ${status.registry}`);
          ctx.out(`schema version: ${status.schemaVersion}`);
          ctx.out(`devices: ${status.devices}`);
          ctx.out(`audit chain: ${audit.entries} entries ${status.audit.where === 'in the registry' ? 'in the registry' : `in ${status.audit.where}`}, ${audit.ok ? 'intact' : `BROKEN at entry ${audit.problem!.line}: ${audit.problem!.reason}`}`);
        }
        if (!audit.ok) throw new ExitCode(1);
      } finally {
        await reg.close();
      }
    });

  registry
    .command('migrate')
    .description("move a station's history between registries, SQLite file or PostgreSQL on either side: devices, rollouts, renewals, signing-key rotations and the audit chain, hashes unchanged")
    .requiredOption('--from <sqlite:path|postgres-url>', 'the source registry: a SQLite file (sqlite:PATH or a path) or a postgres:// URL; read, never changed')
    .requiredOption('--to <sqlite:path|postgres-url>', 'the target registry: a new SQLite file (its audit log is written beside it as audit.jsonl) or a postgres:// URL; empty, or holding an earlier move of the same chain')
    .option('--audit-log <path>', 'audit log file of a SQLite source (default: audit.jsonl beside the registry file)')
    .option('--json', 'print what was moved as JSON')
    .addHelpText(
      'after',
      `
The source is read at one moment (one statement on PostgreSQL, under the file locks on
SQLite) and its audit chain verified against its anchor first; a broken chain is refused.
The target is written in one transaction: a failure leaves it as it was. On a SQLite
target the chain goes to audit.jsonl (and its head) beside the registry file. Device
claims (short renewal/rotation leases) are not moved. Afterwards point the stations at the
target (paths.registry in station.toml, or $ESPFLEET_REGISTRY) and check it with
\`espfleet audit verify --registry LOCATION\`.

Examples:
  espfleet registry migrate --from sqlite:/srv/line1/registry.sqlite --to postgres://espfleet@db.example/fleet
  espfleet registry migrate --from postgres://espfleet@db.example/fleet --to sqlite:/srv/export/registry.sqlite
  espfleet registry migrate --from postgres://espfleet@old-db.example/fleet --to postgres://espfleet@new-db.example/fleet

A URL without a password takes it from the password file (passfile=PATH in the URL, else
$PGPASSFILE, else ~/.pgpass, mode 0600), as libpq does; PGPASSWORD is not read. A password
in a URL is never printed (docs/registry.md).`,
    )
    .action(async (opts: { from: string; to: string; auditLog?: string; json?: boolean }) => {
      const from = normalizeRegistryLocation(opts.from, ctx.cwd);
      const to = normalizeRegistryLocation(opts.to, ctx.cwd);
      const summary = await moveRegistry({ from, to, ...(opts.auditLog === undefined ? {} : { auditLog: resolve(ctx.cwd, opts.auditLog) }) });
      if (opts.json) ctx.json(summary);
      else {
        const fromWhat = summary.auditLog === summary.from ? summary.from : `${summary.from} (and ${summary.auditLog})`;
        const toWhat = summary.targetAuditLog === summary.to ? summary.to : `${summary.to} (and ${summary.targetAuditLog})`;
        ctx.out(`moved ${fromWhat} into ${toWhat}:`);
        ctx.out(`  ${summary.devices} devices, ${summary.rollouts} rollouts (${summary.rolloutBoards} board rows), ${summary.renewals} renewal rows`);
        ctx.out(`  ${summary.signingKeyRotations} signing-key rotations (${summary.signingKeyRotationBoards} board rows), ${summary.boardSigningKeys} boards' reported signing keys`);
        ctx.out(`  ${summary.auditEntries} audit entries${summary.auditAlreadyThere > 0 ? ` (${summary.auditAlreadyThere} were there already from an earlier move)` : ''}, hashes unchanged`);
      }
    });
}

function resolveAuditPath(ctx: CliContext, opts: { station?: string; registry?: string; auditLog?: string }): string | undefined {
  if (opts.auditLog !== undefined) return resolve(ctx.cwd, opts.auditLog);
  if (opts.registry !== undefined) return undefined;
  try {
    return resolveStationPath(ctx, { ...(opts.station === undefined ? {} : { station: opts.station }) }, '--audit-log', (cfg) => cfg.paths.audit);
  } catch {
    return undefined;
  }
}
