// `espfleet backup verify FILE`: integrity and completeness without restoring, and what it holds.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { verifyBackup } from '../../../backup/index.ts';
import type { CliContext } from '../../context.ts';
import { backupPassphrase, passphraseOption } from './passphrase.ts';

interface Options {
  passphraseFile?: string;
  json?: boolean;
}

export function register(backup: Command, ctx: CliContext): void {
  passphraseOption(backup.command('verify').argument('<file>', 'the archive written by `backup create`'))
    .description('check a backup without restoring it: authenticated, complete, audit chain intact; say what it holds')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Decrypts the archive in memory and authenticates all of it (one flipped byte or a
truncated file is refused), checks every file against the manifest's size and sha256,
that the CA, keystore and station.toml are there, and that the audit log verifies
against its head and the anchor in the registry it holds. The keystore and CA keys
stay sealed: their passphrases are not needed. Exit status: 0 sound, 1 refused.

Examples:
  espfleet backup verify /mnt/usb/line1-2026-12-02.efbak
  espfleet backup verify line1.efbak --passphrase-file /secure/backup.pass --json`,
    )
    .action(async (file: string, opts: Options) => {
      const r = await verifyBackup(resolve(ctx.cwd, file), await backupPassphrase(ctx, opts));
      if (opts.json) return ctx.json(r);
      ctx.out(`backup ${r.id} is sound: station ${r.station.id}, made ${r.createdAt} by ${r.createdBy} (${r.file})`);
      ctx.out(`  ${r.counts.devices} devices, ${r.counts.auditEntries} audit entries (chain intact${r.audit.anchored ? ', matches the registry anchor' : ''}), ${r.counts.certificates} certificates, ${r.counts.keystoreRecords} escrowed keys, ${r.files.length} files`);
      if (r.registryFrom) ctx.out(`  registry exported from PostgreSQL ${r.registryFrom.url}`);
      if (r.absent.length > 0) ctx.out(`  not there when it was made: ${r.absent.join(', ')}`);
    });
}
