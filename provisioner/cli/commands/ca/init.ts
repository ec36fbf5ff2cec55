// `espfleet ca init`: create the fleet CA (root + issuing intermediate), keys encrypted.
import { type Command, Option } from 'commander';
import { CA_KEY_TYPES, initCa, type CaKeyType } from '../../../../certs/index.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { CA_PASSPHRASE_ENV, caDirOption } from './unlock.ts';

interface Options {
  caDir: string;
  keyType: CaKeyType;
  passphraseFile?: string;
  org?: string;
  json?: boolean;
}

export function register(ca: Command, ctx: CliContext): void {
  caDirOption(ca.command('init'), 'new (empty) directory for the CA')
    .description('create a fleet CA: a root and an issuing intermediate, keys encrypted with a passphrase')
    .addOption(new Option('--key-type <type>', 'CA key algorithm').choices([...CA_KEY_TYPES]).default('ec-p256'))
    .option('--passphrase-file <file>', `read the new passphrase from a file (else $${CA_PASSPHRASE_ENV}, else a prompt, asked twice)`)
    .option('--org <name>', 'organization name in the CA subjects', 'espfleet')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Writes root.pem, intermediate.pem, chain.pem (intermediate + root), the two keys
as encrypted PKCS#8 (mode 0600), ca.json and the issuance index issued.jsonl.
Keep root.key.pem offline once the intermediate exists; only the intermediate signs.

Example:
  espfleet ca init --ca-dir ./fleet-ca --passphrase-file ~/.secrets/ca-pass`,
    )
    .action(async (opts: Options) => {
      const passphrase = await resolvePassphrase(ctx, { what: 'new CA key', envVar: CA_PASSPHRASE_ENV, file: opts.passphraseFile, confirm: true });
      const created = await initCa({ dir: opts.caDir, keyType: opts.keyType, passphrase, ...(opts.org ? { subject: { organization: opts.org } } : {}) });
      const data = { dir: created.dir, keyType: created.keyType, root: `${created.dir}/root.pem`, chain: `${created.dir}/chain.pem` };
      if (opts.json) return ctx.json(data);
      ctx.out(`created ${data.keyType} CA in ${data.dir}`);
      ctx.out(`trust anchor for boards and broker: ${data.root}`);
    });
}
