// Shared by the `keystore` subcommands: the keystore is unlocked by a key file or a
// passphrase (env, file, prompt); neither ever appears in argv or logs (invariant 3).
import type { Command } from 'commander';
import { CertsError, openKeystore, type Keystore, type KeystoreSecret } from '../../../../certs/index.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { deprecatedAlias } from '../../flags.ts';

export const KEYSTORE_PASSPHRASE_ENV = 'ESPFLEET_KEYSTORE_PASSPHRASE';

export interface KeystoreCliOptions {
  keystore: string;
  keystoreKeyFile?: string;
  keystorePassphraseFile?: string;
  /** The spellings before issue 20 (hidden aliases for one release); the values also land in the two above. */
  keyFile?: string;
  passphraseFile?: string;
  json?: boolean;
}

/** --keystore and its unlock options, spelled as in every other command (flash, encrypt-flash, efuse burn). */
export function keystoreOptions(cmd: Command): Command {
  cmd
    .requiredOption('--keystore <path>', 'keystore file')
    .option('--keystore-key-file <file>', 'unlock the keystore with a 32-byte key file instead of a passphrase')
    .option('--keystore-passphrase-file <file>', `read the keystore passphrase from a file (else $${KEYSTORE_PASSPHRASE_ENV}, else a prompt)`);
  deprecatedAlias(cmd, '--key-file <file>', 'keystoreKeyFile');
  return deprecatedAlias(cmd, '--passphrase-file <file>', 'keystorePassphraseFile');
}

export async function keystoreSecret(
  ctx: CliContext,
  opts: { keyFile?: string; passphraseFile?: string; keystoreKeyFile?: string; keystorePassphraseFile?: string },
  envVar = KEYSTORE_PASSPHRASE_ENV,
  confirm = false,
): Promise<KeystoreSecret> {
  const keyFile = opts.keystoreKeyFile ?? opts.keyFile;
  if (keyFile) return { keyFile };
  return { passphrase: await resolvePassphrase(ctx, { what: 'keystore', envVar, file: opts.keystorePassphraseFile ?? opts.passphraseFile, confirm }) };
}

/** Opens the keystore named by the options; a wrong secret's hint names this CLI's flags. */
export async function openKeystoreFromOptions(ctx: CliContext, opts: KeystoreCliOptions): Promise<Keystore> {
  const secret = await keystoreSecret(ctx, opts);
  try {
    return await openKeystore(opts.keystore, secret);
  } catch (e) {
    if (e instanceof CertsError && e.code === 'certs.keystore.bad_passphrase') {
      throw new CertsError(e.code, e.message, {
        hint: `check $${KEYSTORE_PASSPHRASE_ENV}, --keystore-passphrase-file or --keystore-key-file (if they are right, the file header was altered)`,
        cause: e,
      });
    }
    throw e;
  }
}
