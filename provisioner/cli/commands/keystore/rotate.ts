// `espfleet keystore rotate`: re-encrypt every record under a new master key.
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { keystoreOptions, keystoreSecret, openKeystoreFromOptions, type KeystoreCliOptions } from './secret.ts';

export const NEW_PASSPHRASE_ENV = 'ESPFLEET_KEYSTORE_NEW_PASSPHRASE';

interface Options extends KeystoreCliOptions {
  newKeyFile?: string;
  newPassphraseFile?: string;
}

export function register(keystore: Command, ctx: CliContext): void {
  keystoreOptions(keystore.command('rotate'))
    .description('change the master key (passphrase or key file), keeping every record')
    .option('--new-key-file <file>', 'the new master key file (32 bytes raw or 64 hex digits)')
    .option('--new-passphrase-file <file>', `the new passphrase from a file (else $${NEW_PASSPHRASE_ENV}, else a prompt, asked twice)`)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
All records are re-encrypted and written in one durable replace: a crash leaves the
old keystore (old key) intact.

Example:
  espfleet keystore rotate --keystore factory-keys.json --keystore-key-file old.key --new-key-file new.key`,
    )
    .action(async (opts: Options) => {
      const ks = await openKeystoreFromOptions(ctx, opts);
      const next = await keystoreSecret(
        ctx,
        { ...(opts.newKeyFile ? { keyFile: opts.newKeyFile } : {}), ...(opts.newPassphraseFile ? { passphraseFile: opts.newPassphraseFile } : {}) },
        NEW_PASSPHRASE_ENV,
        true,
      );
      const count = await ks.rotateMasterKey(next);
      const data = { keystore: ks.path, records: count, unlock: 'keyFile' in next ? 'key-file' : 'passphrase' };
      if (opts.json) return ctx.json(data);
      ctx.out(`re-encrypted ${count} record(s) in ${ks.path} under the new ${data.unlock}`);
    });
}
