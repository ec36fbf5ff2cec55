// `espfleet audit verify`: walks the hash chain, checks the head file and the registry's
// anchor; exit 0 when intact, 1 naming the first bad line.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';
import { AuditLogError, headPath, verifyAuditLog } from '../../../station/audit-log.ts';
import type { AuditAnchor } from '../../../station/records.ts';
import { verifyRegistryAudit } from '../../../station/audit-sql.ts';
import { isPostgresUrl, normalizeRegistryLocation, openRegistryAt } from '../../../station/open-registry.ts';
import { REGISTRY_ENV, resolveStationPath, stationOption } from '../devices/station-paths.ts';
import { deprecatedAlias } from '../../flags.ts';

interface Options {
  station?: string;
  auditLog?: string;
  registry?: string;
  json?: boolean;
}

/** The registry to take the anchor from: --registry, else $ESPFLEET_REGISTRY, else the station's (none with only --audit-log). */
function registryPath(ctx: CliContext, opts: Options): string | undefined {
  if (opts.registry !== undefined) return normalizeRegistryLocation(opts.registry, ctx.cwd);
  if (opts.auditLog !== undefined) return undefined;
  const fromEnv = ctx.env[REGISTRY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return normalizeRegistryLocation(fromEnv, ctx.cwd);
  return resolveStationPath(ctx, { ...(opts.station === undefined ? {} : { station: opts.station }) }, '--audit-log', (cfg) => cfg.paths.registry);
}

async function readAnchor(path: string | undefined): Promise<AuditAnchor | undefined> {
  if (path === undefined || !existsSync(path)) return undefined;
  const registry = await openRegistryAt(path, { readOnly: true });
  try {
    return await registry.auditAnchor();
  } finally {
    await registry.close();
  }
}

export function register(audit: Command, ctx: CliContext): void {
  const cmd = stationOption(audit.command('verify'))
    .description('verify the audit log: every line canonical, hashed, chained to the one before, in order, and as long as the registry says')
    .option('--audit-log <path>', 'audit log file (instead of paths.audit from the station config)')
    .option('--registry <path|url>', 'registry holding the anchor, or on PostgreSQL the chain itself (default: $ESPFLEET_REGISTRY, else paths.registry of the station config; none with only --audit-log)')
    .option('--json', 'print the result as JSON');
  deprecatedAlias(cmd, '--log <path>', 'auditLog')
    .addHelpText(
      'after',
      `
Finds any edited, removed, inserted or reordered line and a truncated last line, and
names the first line that is wrong. Lines removed from the end are found through the
<log>.head file written beside the log (a missing head is a finding) and through the
anchor (entry count + last hash) the station keeps in its registry. The chain has no
key: someone able to rewrite the log, its head and the registry together is not
detected (docs/factory.md). Exit status: 0 intact, 1 broken.

Examples:
  espfleet audit verify --station /srv/line1/station.toml
  espfleet audit verify --audit-log audit.jsonl --registry registry.sqlite
  espfleet audit verify --audit-log audit.jsonl --json`,
    )
    .action(async (opts: Options) => {
      const regAt = registryPath(ctx, opts);
      if (regAt !== undefined && isPostgresUrl(regAt)) return verifyInDatabase(ctx, regAt, opts.json === true);
      const path = resolveStationPath(ctx, { station: opts.station, explicit: opts.auditLog }, '--audit-log', (cfg) => cfg.paths.audit);
      const regPath = regAt;
      const anchor = await readAnchor(regPath);
      if (!existsSync(path) && !existsSync(headPath(path)) && anchor === undefined) {
        throw new AuditLogError('station.audit.not_found', `no audit log at ${path}`, {
          hint: 'the log is created by the first provisioning run; check --audit-log or paths.audit in station.toml',
        });
      }
      const result = verifyAuditLog(path, anchor ? { anchor, anchorSource: `the registry ${regPath}` } : {});
      const anchored = anchor ? { registry: regPath, entries: anchor.entries } : null;
      if (opts.json) ctx.json({ path, ...result, anchor: anchored });
      else if (result.ok) {
        const against = anchor
          ? `; matches the anchor in ${regPath} (${anchor.entries} entries)`
          : `; not checked against a registry anchor (${regPath === undefined ? 'give --registry or --station' : existsSync(regPath) ? `none in ${regPath}` : `no registry at ${regPath}`})`;
        ctx.out(`audit log intact: ${result.entries} entries (${path})${against}`);
      } else ctx.out(`audit log BROKEN at line ${result.problem!.line}: ${result.problem!.reason} (${path}; ${result.entries} entries verified before it)`);
      if (!result.ok) throw new ExitCode(1);
    });
}

/** A registry on PostgreSQL holds the chain itself: its rows, chained, against its anchor. */
async function verifyInDatabase(ctx: CliContext, url: string, json: boolean): Promise<void> {
  const registry = await openRegistryAt(url, { readOnly: true });
  let result;
  try {
    result = await verifyRegistryAudit(registry);
  } finally {
    await registry.close();
  }
  const { anchor, ...verdict } = result;
  if (json) ctx.json({ registry: registry.path, ...verdict, anchor: anchor ? { registry: registry.path, entries: anchor.entries } : null });
  else if (verdict.ok) ctx.out(`audit chain intact: ${verdict.entries} entries (in the registry ${registry.path})${anchor ? `; matches its anchor (${anchor.entries} entries)` : ''}`);
  else ctx.out(`audit chain BROKEN at entry ${verdict.problem!.line}: ${verdict.problem!.reason} (in the registry ${registry.path}; ${verdict.entries} entries verified before it)`);
  if (!verdict.ok) throw new ExitCode(1);
}
