// `espfleet ca client-cert`: operator and renewal-service identities (CN role:name).
import { type Command, Option } from 'commander';
import { CLIENT_ROLES, issueClientCert, type ClientRole } from '../../../../certs/index.ts';
import { checkSecretTarget, writeFileDurable, writeSecretFile } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, describeIssued, printIssued, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  role: ClientRole;
  name: string;
  outCert: string;
  outKey: string;
  force?: boolean;
  days?: number;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('client-cert'))
    .description('issue an operator or renewal-service client certificate')
    .addOption(new Option('--role <role>', 'what the identity may do on the broker').choices([...CLIENT_ROLES]).makeOptionMandatory())
    .requiredOption('--name <name>', 'who: the CN becomes <role>:<name>')
    .requiredOption('--out-cert <cert.pem>', 'write certificate + issuing CA here')
    .requiredOption('--out-key <key.pem>', 'write the private key here (mode 0600)')
    .option('--days <n>', 'validity in days (default 365)', intArg(1, 3650))
    .option('--force', 'replace an existing private key file (it may be the only copy of that key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Operators read devices/# and write devices/+/cmd/#; the renewal service reads
devices/+/cert/csr and writes devices/+/cert/issued. Run \`espfleet broker config\`
again afterwards so the broker ACL lists the new identity.

Example:
  espfleet ca client-cert --ca-dir ./fleet-ca --role operator --name alice --out-cert alice.pem --out-key alice.key`,
    )
    .action(async (opts: Options) => {
      // Before the CA is unlocked or a key made: a refusal leaves nothing issued.
      checkSecretTarget(opts.outKey, { force: opts.force === true });
      const ca = await unlockCa(ctx, opts);
      const c = await issueClientCert(ca, { role: opts.role, name: opts.name, ...(opts.days ? { days: opts.days } : {}) });
      writeSecretFile(opts.outKey, c.privateKeyPem, { force: opts.force === true });
      writeFileDurable(opts.outCert, c.chainPem);
      printIssued(ctx, describeIssued(c, { cn: c.cn, cert: opts.outCert, key: opts.outKey }), opts.json);
    });
}
