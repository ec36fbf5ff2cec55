// `espfleet ca revoke`: mark a certificate revoked in the CA's issuance index.
import { type Command, Option } from 'commander';
import { CRL_REASONS, revoke, type CrlReason } from '../../../../certs/index.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  serial: string;
  reason: CrlReason;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('revoke'))
    .description('revoke a certificate by serial number')
    .requiredOption('--serial <hex>', 'serial number as printed by `ca list` (colons and 0x allowed)')
    .addOption(new Option('--reason <reason>', 'RFC 5280 reason code').choices(Object.keys(CRL_REASONS)).default('unspecified'))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Revocation takes effect on the broker only after a new CRL is published and the
broker reloads it: run \`espfleet ca crl\`, copy it over the broker's crlfile and
send mosquitto SIGHUP (docs/pki.md). Sessions already open stay open until cut.

Example:
  espfleet ca revoke --dir ./fleet-ca --serial 4d7207e10677b7f6d7444cbf78b497b9 --reason keyCompromise`,
    )
    .action(async (opts: Options) => {
      const ca = await unlockCa(ctx, opts);
      const rec = await revoke(ca, opts.serial, opts.reason);
      const data = { serial: rec.serialHex, cn: rec.cn, role: rec.role, reason: opts.reason };
      if (opts.json) return ctx.json(data);
      ctx.out(`revoked ${data.serial} (${data.role} ${data.cn}, ${data.reason})`);
      ctx.note('publish a new CRL (`espfleet ca crl`) and reload the broker for this to take effect');
    });
}
