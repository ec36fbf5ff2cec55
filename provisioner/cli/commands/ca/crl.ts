// `espfleet ca crl`: sign and write a fresh CRL from the issuing CA.
import type { Command } from 'commander';
import { buildCrl } from '../../../../certs/index.ts';
import { writeFileDurable } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  out: string;
  nextUpdateDays?: number;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('crl'))
    .description('publish a certificate revocation list signed by the issuing CA')
    .requiredOption('--out <crl.pem>', 'write the PEM CRL here (atomically)')
    .option('--next-update-days <n>', 'days until the CRL expires (default 7)', intArg(1, 366))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Publish a new CRL well before nextUpdate: mosquitto refuses every client once its
CRL has expired. Writing --out atomically lets a running broker reload it safely.

Example:
  espfleet ca crl --ca-dir ./fleet-ca --out /etc/mosquitto/espfleet/crl.pem && kill -HUP <mosquitto pid>`,
    )
    .action(async (opts: Options) => {
      const ca = await unlockCa(ctx, opts);
      const crl = buildCrl(ca, opts.nextUpdateDays ? { nextUpdateDays: opts.nextUpdateDays } : {});
      writeFileDurable(opts.out, crl.crlPem);
      const data = {
        out: opts.out,
        crlNumber: crl.crlNumber,
        thisUpdate: crl.thisUpdate.toISOString(),
        nextUpdate: crl.nextUpdate.toISOString(),
        revoked: crl.revokedSerials.length,
      };
      if (opts.json) return ctx.json(data);
      ctx.out(`CRL #${data.crlNumber} with ${data.revoked} revoked certificate(s), valid until ${data.nextUpdate} → ${opts.out}`);
    });
}
