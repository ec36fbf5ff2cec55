// `espfleet ca sign-csr`: sign a board's CSR after the policy checks (CN, key, signature).
import type { Command } from 'commander';
import { signCsr } from '../../../../certs/index.ts';
import { readInputFile, writeFileDurable } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, describeIssued, printIssued, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  csr: string;
  expectCn: string;
  out: string;
  days?: number;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('sign-csr'))
    .description("sign a board's certificate request; the key never leaves the board")
    .requiredOption('--csr <req.pem>', 'PEM certificate request')
    .requiredOption('--expect-cn <device-id>', 'the device id the CSR must name as its CN')
    .requiredOption('--out <cert.pem>', 'write the certificate + issuing CA here')
    .option('--days <n>', 'validity in days (default 365)', intArg(1, 3650))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Refuses a CSR whose signature does not verify, whose CN differs from --expect-cn,
or whose key is not EC P-256 or RSA ≥ 2048. The certificate gets the device
profile (clientAuth only) whatever extensions the CSR asks for.

Example:
  espfleet ca sign-csr --ca-dir ./fleet-ca --csr board.csr --expect-cn esp32_0A1B2C --out board.pem`,
    )
    .action(async (opts: Options) => {
      const csr = Buffer.from(readInputFile(opts.csr, 'CSR')).toString('utf8');
      const ca = await unlockCa(ctx, opts);
      const cert = await signCsr(ca, csr, { expectCn: opts.expectCn, ...(opts.days ? { days: opts.days } : {}) });
      writeFileDurable(opts.out, cert.chainPem);
      printIssued(ctx, describeIssued(cert, { cn: opts.expectCn, cert: opts.out }), opts.json);
    });
}
