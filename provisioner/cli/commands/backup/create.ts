// `espfleet backup create`: one encrypted archive of the station (CA, keystore and its
// copies, registry, audit log and head, station.toml, firmware), recorded in the audit log.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createBackup } from '../../../backup/index.ts';
import type { CliContext } from '../../context.ts';
import { UsageError } from '../../args.ts';
import { findStation, stationOption } from '../devices/station-paths.ts';
import { BACKUP_PASSPHRASE_ENV, backupPassphrase, passphraseOption } from './passphrase.ts';

interface Options {
  station?: string;
  out: string;
  passphraseFile?: string;
  json?: boolean;
}

export function register(backup: Command, ctx: CliContext): void {
  passphraseOption(stationOption(backup.command('create')))
    .description('write one encrypted archive of the station: CA, keystore, registry, audit log and head, station.toml, firmware')
    .requiredOption('--out <file>', 'the archive to create (mode 0600, never overwritten)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The archive is AES-256-GCM under a key derived by scrypt from the backup passphrase
(its own, not the CA's or the keystore's); the CA keys and the keystore inside are
still encrypted under their own passphrases as well. Passphrase and key files named
in station.toml are never included: keep them apart from the archive.

The audit log and the registry are read under their locks, so a backup taken while
the station provisions is consistent; the keystore is read last, so every board the
backup's registry knows has its key in it. A backup.create entry is appended first
(the archive holds it). A station file holding an unencrypted private key is refused.

A registry on PostgreSQL (paths.registry = "postgres://…") is read at one moment and
kept in the archive as a SQLite registry with its audit log, so the archive verifies and
restores without the database; the manifest names the database (password redacted).

Examples:
  espfleet backup create --station /srv/line1/station.toml --out /mnt/usb/line1-2026-12-02.efbak
  ${BACKUP_PASSPHRASE_ENV}=… espfleet backup create --out line1.efbak --json
  espfleet backup verify /mnt/usb/line1-2026-12-02.efbak`,
    )
    .action(async (opts: Options) => {
      const cfg = findStation(ctx, opts.station);
      if (!cfg) throw new UsageError('cli.bad_argument', 'no station config: give --station <station.toml>', { hint: 'or set ESPFLEET_STATION, or run in the directory that holds station.toml' });
      const passphrase = await backupPassphrase(ctx, opts, true);
      const r = await createBackup(cfg, { out: resolve(ctx.cwd, opts.out), passphrase });
      if (opts.json) return ctx.json(r);
      ctx.out(`backup ${r.id} of station ${r.station} written to ${r.out} (${r.bytes} bytes, ${r.files} files, encrypted)`);
      ctx.out(`  ${r.counts.devices} devices, ${r.counts.auditEntries} audit entries (backup.create is entry ${r.auditSeq}), ${r.counts.certificates} certificates, ${r.counts.keystoreRecords} escrowed keys`);
      if (r.registryFrom) ctx.out(`  registry exported from PostgreSQL ${r.registryFrom.url} at one moment, kept as a SQLite file and audit log`);
      if (r.absent.length > 0) ctx.out(`  not there yet, so not included: ${r.absent.join(', ')}`);
      const secrets = Object.entries(r.secretsNotIncluded);
      if (secrets.length > 0) ctx.out(`  never included (keep them apart): ${secrets.map(([k, p]) => `${k} ${p}`).join(', ')}`);
    });
}
