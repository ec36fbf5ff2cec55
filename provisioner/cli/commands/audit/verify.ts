// `espfleet audit verify`: walks the hash chain; exit 0 when intact, 1 naming the first bad line.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../program.ts';
import { AuditLogError, headPath, verifyAuditLog } from '../../../station/audit-log.ts';
import { resolveStationPath, stationOption } from '../devices/station-paths.ts';

interface Options {
  station?: string;
  log?: string;
  json?: boolean;
}

export function register(audit: Command, ctx: CliContext): void {
  stationOption(audit.command('verify'))
    .description('verify the audit log: every line canonical, hashed, chained to the one before, in order')
    .option('--log <path>', 'audit log file (instead of paths.audit from the station config)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Finds any edited, removed, inserted or reordered line and a truncated last line, and
names the first line that is wrong. Lines removed from the end are found through the
<log>.head file written beside the log. Exit status: 0 intact, 1 broken.

Examples:
  espfleet audit verify --station /srv/line1/station.toml
  espfleet audit verify --log audit.jsonl --json`,
    )
    .action((opts: Options) => {
      const path = resolveStationPath(ctx, { station: opts.station, explicit: opts.log }, '--log', (cfg) => cfg.paths.audit);
      if (!existsSync(path) && !existsSync(headPath(path))) {
        throw new AuditLogError('station.audit.not_found', `no audit log at ${path}`, {
          hint: 'the log is created by the first provisioning run; check --log or paths.audit in station.toml',
        });
      }
      const result = verifyAuditLog(path);
      if (opts.json) ctx.json({ path, ...result });
      else if (result.ok) ctx.out(`audit log intact: ${result.entries} entries (${path})`);
      else ctx.out(`audit log BROKEN at line ${result.problem!.line}: ${result.problem!.reason} (${path}; ${result.entries} entries verified before it)`);
      if (!result.ok) throw new ExitCode(1);
    });
}
