// `espfleet fw keygen`: a P-256 firmware-signing key (spec mongoose-os.md §1.5).
import type { Command } from 'commander';
import { generateSigningKey, mgosPublicKeyConfig } from '../../../../firmware-js/bundle/index.ts';
import { checkSecretTarget, writeFileAtomic, writeSecretFile } from '../../../io/files.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';

interface Options {
  out: string;
  pub?: string;
  passphraseFile?: string;
  unencrypted?: boolean;
  force?: boolean;
  json?: boolean;
}

export const SIGNING_PASSPHRASE_ENV = 'ESPFLEET_SIGNING_PASSPHRASE';

export function register(fw: Command, ctx: CliContext): void {
  fw.command('keygen')
    .description('create an ECDSA P-256 key for signing firmware bundles')
    .requiredOption('--out <key.pem>', 'private key file to create (PKCS#8, encrypted with a passphrase)')
    .option('--pub <pub.pem>', 'also write the public key here')
    .option('--passphrase-file <file>', `read the passphrase from a file (else $${SIGNING_PASSPHRASE_ENV}, else a prompt)`)
    .option('--unencrypted', 'store the private key without a passphrase (lab use only)')
    .option('--force', 'replace an existing key file (it may be the only copy of a signing key)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The private key is written with mode 0600 and encrypted (AES-256) unless
--unencrypted is given. An existing --out file is never replaced without --force:
it may be the only copy of the key that signed your fleet's firmware. The command prints the value devices need in
update.keyN (base64 DER SubjectPublicKeyInfo).

Example:
  ${SIGNING_PASSPHRASE_ENV}=… espfleet fw keygen --out release-key.pem --pub release-key.pub.pem
  espfleet fw sign fw.zip --key release-key.pem --slot 0`,
    )
    .action(async (opts: Options) => {
      // Before asking for a passphrase or making a key.
      checkSecretTarget(opts.out, { force: opts.force === true });
      const passphrase = opts.unencrypted
        ? undefined
        : await resolvePassphrase(ctx, { what: 'new signing key', envVar: SIGNING_PASSPHRASE_ENV, file: opts.passphraseFile, confirm: true });
      const key = generateSigningKey(passphrase === undefined ? {} : { passphrase });
      writeSecretFile(opts.out, key.privateKeyPem, { force: opts.force === true });
      if (opts.pub) writeFileAtomic(opts.pub, key.publicKeyPem);
      const result = { privateKey: opts.out, publicKey: opts.pub ?? null, encrypted: passphrase !== undefined, updateKey: mgosPublicKeyConfig(key.publicKeyPem) };
      if (opts.json) return ctx.json(result);
      ctx.out(`private key: ${opts.out}${result.encrypted ? ' (encrypted)' : ' (NOT encrypted)'}`);
      if (opts.pub) ctx.out(`public key:  ${opts.pub}`);
      ctx.out(`device config update.keyN: ${result.updateKey}`);
    });
}
