// Shared by the `keystore` subcommands: the keystore is unlocked by a key file or a
// passphrase (env, file, prompt); neither ever appears in argv or logs (invariant 3).
import type { Command } from 'commander';
import type { KeystoreSecret } from '../../../../certs/index.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';

export const KEYSTORE_PASSPHRASE_ENV = 'ESPFLEET_KEYSTORE_PASSPHRASE';

export interface KeystoreCliOptions {
  keystore: string;
  keyFile?: string;
  passphraseFile?: string;
  json?: boolean;
}

export function keystoreOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--keystore <path>', 'keystore file')
    .option('--key-file <file>', 'unlock with a 32-byte key file instead of a passphrase')
    .option('--passphrase-file <file>', `read the passphrase from a file (else $${KEYSTORE_PASSPHRASE_ENV}, else a prompt)`);
}

export async function keystoreSecret(
  ctx: CliContext,
  opts: { keyFile?: string; passphraseFile?: string },
  envVar = KEYSTORE_PASSPHRASE_ENV,
  confirm = false,
): Promise<KeystoreSecret> {
  if (opts.keyFile) return { keyFile: opts.keyFile };
  return { passphrase: await resolvePassphrase(ctx, { what: 'keystore', envVar, file: opts.passphraseFile, confirm }) };
}
