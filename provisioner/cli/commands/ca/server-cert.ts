// `espfleet ca server-cert`: the broker's TLS certificate (serverAuth, DNS/IP SANs).
import type { Command } from 'commander';
import { issueServerCert } from '../../../../certs/index.ts';
import { checkSecretTarget, writeFileDurable, writeSecretFile } from '../../../io/files.ts';
import { collect, intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, describeIssued, printIssued, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  dns?: string[];
  ip?: string[];
  outCert: string;
  outKey: string;
  force?: boolean;
  days?: number;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('server-cert'))
    .description('issue a TLS server certificate (for the MQTT broker or OTA server)')
    .option('--dns <name>', 'DNS name clients connect to (repeatable)', collect)
    .option('--ip <addr>', 'IP address clients connect to (repeatable)', collect)
    .requiredOption('--out-cert <cert.pem>', 'write certificate + issuing CA here')
    .requiredOption('--out-key <key.pem>', 'write the private key here (mode 0600, unencrypted: servers cannot prompt)')
    .option('--days <n>', 'validity in days (default 365)', intArg(1, 3650))
    .option('--force', 'replace an existing private key file (it may be the only copy of that key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  espfleet ca server-cert --ca-dir ./fleet-ca --dns mqtt.example.com --ip 192.0.2.10 \\
    --out-cert broker.pem --out-key broker.key`,
    )
    .action(async (opts: Options) => {
      // Before the CA is unlocked or a key made: a refusal leaves nothing issued.
      checkSecretTarget(opts.outKey, { force: opts.force === true });
      const ca = await unlockCa(ctx, opts);
      const srv = await issueServerCert(ca, { dns: opts.dns ?? [], ip: opts.ip ?? [], ...(opts.days ? { days: opts.days } : {}) });
      writeSecretFile(opts.outKey, srv.privateKeyPem, { force: opts.force === true });
      writeFileDurable(opts.outCert, srv.chainPem);
      printIssued(ctx, describeIssued(srv, { dns: opts.dns ?? [], ip: opts.ip ?? [], cert: opts.outCert, key: opts.outKey }), opts.json);
    });
}
