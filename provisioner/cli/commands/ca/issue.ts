// `espfleet ca issue`: a device certificate and key written to files (lab use).
import type { Command } from 'commander';
import { issueDeviceCert } from '../../../../certs/index.ts';
import { checkSecretTarget, writeFileDurable, writeSecretFile } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, describeIssued, printIssued, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  cn: string;
  outCert: string;
  outKey: string;
  force?: boolean;
  outChain?: string;
  days?: number;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('issue'))
    .description('issue a device certificate with a new EC P-256 key written to disk (lab use)')
    .requiredOption('--cn <device-id>', 'device id: certificate CN and MQTT username')
    .requiredOption('--out-cert <cert.pem>', 'write the certificate here')
    .requiredOption('--out-key <key.pem>', 'write the private key here (mode 0600, unencrypted)')
    .option('--out-chain <chain.pem>', 'also write certificate + issuing CA (what the board presents)')
    .option('--days <n>', 'validity in days (default 365)', intArg(1, 3650))
    .option('--force', 'replace an existing private key file (it may be the only copy of that key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
For lab boards and tests only: the device key touches this computer's disk. In
production the provisioning pipeline creates the key in memory and writes it only
to the board (DESIGN.md security invariant 1), or the board sends a CSR (ca sign-csr).

Example:
  espfleet ca issue --ca-dir ./fleet-ca --cn esp32_0A1B2C --out-cert dev.pem --out-key dev.key`,
    )
    .action(async (opts: Options) => {
      // Before the CA is unlocked or a key made: a refusal leaves nothing issued.
      checkSecretTarget(opts.outKey, { force: opts.force === true });
      const ca = await unlockCa(ctx, opts);
      const dev = await issueDeviceCert(ca, { cn: opts.cn, ...(opts.days ? { days: opts.days } : {}) });
      writeSecretFile(opts.outKey, dev.privateKeyPem, { force: opts.force === true });
      writeFileDurable(opts.outCert, dev.certPem);
      if (opts.outChain) writeFileDurable(opts.outChain, dev.chainPem);
      printIssued(ctx, describeIssued(dev, { cn: opts.cn, cert: opts.outCert, key: opts.outKey }), opts.json);
    });
}
