// The backup's own passphrase (not the CA's or the keystore's): --passphrase-file, else
// $ESPFLEET_BACKUP_PASSPHRASE, else a prompt; never argv, never logged (invariant 3).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';

export const BACKUP_PASSPHRASE_ENV = 'ESPFLEET_BACKUP_PASSPHRASE';

export function passphraseOption(cmd: Command): Command {
  return cmd.option('--passphrase-file <file>', `read the backup passphrase from a file (else $${BACKUP_PASSPHRASE_ENV}, else a prompt)`);
}

export function backupPassphrase(ctx: CliContext, opts: { passphraseFile?: string }, confirm = false): Promise<string> {
  return resolvePassphrase(ctx, { what: 'backup', envVar: BACKUP_PASSPHRASE_ENV, confirm, ...(opts.passphraseFile === undefined ? {} : { file: opts.passphraseFile }) });
}
