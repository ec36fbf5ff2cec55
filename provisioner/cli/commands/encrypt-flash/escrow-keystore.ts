// The keystore options of commands that burn or use flash-encryption keys
// (`encrypt-flash`, `flash --encrypt-with-escrow`): the path, and how to unlock it —
// a key file, a passphrase file, $ESPFLEET_KEYSTORE_PASSPHRASE or a prompt, never argv.
import type { Command } from 'commander';
import type { Keystore } from '../../../../certs/index.ts';
import type { CliContext } from '../../context.ts';
import { KEYSTORE_PASSPHRASE_ENV, openKeystoreFromOptions } from '../keystore/secret.ts';

export interface EscrowKeystoreOptions {
  keystore?: string;
  keystoreKeyFile?: string;
  keystorePassphraseFile?: string;
}

export function addEscrowKeystoreOptions(cmd: Command, required: boolean): Command {
  const path = 'the keystore that escrows the flash-encryption keys (see `espfleet keystore init`)';
  return (required ? cmd.requiredOption('--keystore <path>', path) : cmd.option('--keystore <path>', path))
    .option('--keystore-key-file <file>', 'unlock the keystore with its 32-byte key file')
    .option('--keystore-passphrase-file <file>', `read the keystore passphrase from a file (else $${KEYSTORE_PASSPHRASE_ENV}, else a prompt)`);
}

/** Opens (and authenticates) the keystore before any board is touched: a wrong passphrase changes nothing. */
export function openEscrowKeystore(ctx: CliContext, path: string, opts: EscrowKeystoreOptions): Promise<Keystore> {
  return openKeystoreFromOptions(ctx, { ...opts, keystore: path });
}
