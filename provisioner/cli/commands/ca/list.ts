// `espfleet ca list`: what the CA issued, its status and expiry (no passphrase needed).
import type { Command } from 'commander';
import { listIssued, openCaRecords } from '../../../../certs/index.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caDirOption } from './unlock.ts';
import { renderTable } from '../../format.ts';

interface Options {
  caDir: string;
  expiringWithin?: number;
  json?: boolean;
}

export function register(ca: Command, ctx: CliContext): void {
  caDirOption(ca.command('list'), 'CA directory')
    .description('list issued certificates (serial, role, name, expiry, status), or those expiring soon')
    .option('--expiring-within <days>', 'only valid certificates that expire within this many days', intArg(0, 36500))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Reads only the issuance index, so no passphrase is needed. Expired certificates are
marked; --expiring-within is the renewal watch list (field-survey finding 7).

Example:
  espfleet ca list --ca-dir ./fleet-ca --expiring-within 30 --json`,
    )
    .action((opts: Options) => {
      const records = listIssued(openCaRecords(opts.caDir), opts.expiringWithin === undefined ? {} : { expiringWithinDays: opts.expiringWithin });
      if (opts.json) return ctx.json(records);
      if (records.length === 0) return ctx.out('no certificates');
      const rows = records.map((r) => [r.serialHex, r.role, r.cn, r.notAfter, r.status === 'revoked' ? `revoked (${r.reason ?? 'unspecified'})` : r.expired ? 'expired' : 'valid']);
      for (const line of renderTable(['SERIAL', 'ROLE', 'NAME', 'NOT AFTER', 'STATUS'], rows)) ctx.out(line);
    });
}
