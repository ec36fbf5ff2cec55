// `espfleet ca client-cert`: operator and renewal-service identities (CN role:name).
import { type Command, Option } from 'commander';
import { CLIENT_ROLES, buildPkcs12, issueClientCert, type ClientRole } from '../../../../certs/index.ts';
import { checkSecretTarget, writeFileDurable, writeSecretFile } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { caOptions, describeIssued, printIssued, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  role: ClientRole;
  name: string;
  outCert: string;
  outKey: string;
  force?: boolean;
  days?: number;
  p12?: string;
  p12PassphraseFile?: string;
}

export const P12_PASSPHRASE_ENV = 'ESPFLEET_P12_PASSPHRASE';

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('client-cert'))
    .description('issue an operator or renewal-service client certificate')
    .addOption(new Option('--role <role>', 'what the identity may do on the broker').choices([...CLIENT_ROLES]).makeOptionMandatory())
    .requiredOption('--name <name>', 'who: the CN becomes <role>:<name>')
    .requiredOption('--out-cert <cert.pem>', 'write certificate + issuing CA here')
    .requiredOption('--out-key <key.pem>', 'write the private key here (mode 0600)')
    .option('--days <n>', 'validity in days (default 365)', intArg(1, 3650))
    .option('--p12 <out.p12>', 'also write certificate chain and key as PKCS#12 (mode 0600), for browsers and desktop MQTT clients')
    .option('--p12-passphrase-file <file>', `passphrase protecting the PKCS#12 file, from a file (else $${P12_PASSPHRASE_ENV}, else a prompt)`)
    .option('--force', 'replace an existing private key file (it may be the only copy of that key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Operators read devices/# and write devices/+/cmd/#; the renewal service reads
devices/+/cert/csr and writes devices/+/cert/issued. Run \`espfleet broker config\`
again afterwards so the broker ACL lists the new identity.

With --p12 the same identity is also written as one PKCS#12 file: the key under
PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), an HMAC-SHA256 MAC, the passphrase from
--p12-passphrase-file, $${P12_PASSPHRASE_ENV} or a prompt (never argv).

Example:
  espfleet ca client-cert --ca-dir ./fleet-ca --role operator --name alice --out-cert alice.pem --out-key alice.key
  espfleet ca client-cert --ca-dir ./fleet-ca --role operator --name bob --out-cert bob.pem --out-key bob.key \\
    --p12 bob.p12 --p12-passphrase-file bob.p12.pass`,
    )
    .action(async (opts: Options) => {
      // Before the CA is unlocked or a key made: a refusal leaves nothing issued.
      checkSecretTarget(opts.outKey, { force: opts.force === true });
      if (opts.p12) checkSecretTarget(opts.p12, { force: opts.force === true });
      const p12Passphrase = opts.p12
        ? await resolvePassphrase(ctx, { what: 'PKCS#12 file', envVar: P12_PASSPHRASE_ENV, ...(opts.p12PassphraseFile ? { file: opts.p12PassphraseFile } : {}), confirm: true })
        : undefined;
      const ca = await unlockCa(ctx, opts);
      const c = await issueClientCert(ca, { role: opts.role, name: opts.name, ...(opts.days ? { days: opts.days } : {}) });
      writeSecretFile(opts.outKey, c.privateKeyPem, { force: opts.force === true });
      writeFileDurable(opts.outCert, c.chainPem);
      if (opts.p12) writeSecretFile(opts.p12, buildPkcs12(c.chainPem, c.privateKeyPem, p12Passphrase!), { force: opts.force === true });
      printIssued(ctx, describeIssued(c, { cn: c.cn, cert: opts.outCert, key: opts.outKey, ...(opts.p12 ? { p12: opts.p12 } : {}) }), opts.json);
    });
}
