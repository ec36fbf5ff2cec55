// `espfleet keystore init`: create an empty keystore for per-device secrets.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createKeystore } from '../../../../certs/index.ts';
import { writeSecretFile } from '../../../io/files.ts';
import type { CliContext } from '../../context.ts';
import { keystoreOptions, keystoreSecret, KEYSTORE_PASSPHRASE_ENV, type KeystoreCliOptions } from './secret.ts';

export function register(keystore: Command, ctx: CliContext): void {
  keystoreOptions(keystore.command('init'))
    .description('create an empty keystore for flash-encryption keys')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
With --keystore-key-file, a missing key file is created (32 random bytes as hex, mode 0600)
and used as the master key; keep it apart from the keystore. Otherwise the master
key comes from a passphrase through scrypt ($${KEYSTORE_PASSPHRASE_ENV} or a prompt).

Examples:
  espfleet keystore init --keystore factory-keys.json --keystore-key-file /secure/keystore.key
  ${KEYSTORE_PASSPHRASE_ENV}=… espfleet keystore init --keystore factory-keys.json`,
    )
    .action(async (opts: KeystoreCliOptions) => {
      let createdKeyFile = false;
      const keyFile = opts.keystoreKeyFile ?? opts.keyFile;
      if (keyFile && !existsSync(keyFile)) {
        writeSecretFile(keyFile, `${randomBytes(32).toString('hex')}\n`);
        createdKeyFile = true;
      }
      const ks = await createKeystore(opts.keystore, await keystoreSecret(ctx, opts, KEYSTORE_PASSPHRASE_ENV, true));
      const data = { keystore: ks.path, unlock: keyFile ? 'key-file' : 'passphrase', createdKeyFile: createdKeyFile ? keyFile : null };
      if (opts.json) return ctx.json(data);
      ctx.out(`created keystore ${ks.path} (unlocked by ${data.unlock})`);
      if (createdKeyFile) ctx.out(`new master key file: ${keyFile} (back it up; without it the keystore cannot be read)`);
    });
}
