// `espfleet backup restore FILE --to DIR`: the station onto a fresh machine, recorded in its audit log.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { restoreBackup } from '../../../backup/index.ts';
import type { CliContext } from '../../context.ts';
import { backupPassphrase, passphraseOption } from './passphrase.ts';

interface Options {
  to: string;
  registry?: string;
  passphraseFile?: string;
  json?: boolean;
}

export function register(backup: Command, ctx: CliContext): void {
  passphraseOption(backup.command('restore').argument('<file>', 'the archive written by `backup create`'))
    .description('restore a station from a backup into a new or empty directory, and record it in the audit log')
    .requiredOption('--to <dir>', 'where the station goes (must not exist or be empty)')
    .option('--registry <postgres-url>', 'registry to restore into: an empty PostgreSQL database (postgres:// URL) for the registry and audit chain instead of a file; station.toml then points at it')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The whole archive is checked first (as \`backup verify\`); nothing is written if it is
damaged, truncated or the passphrase is wrong, or if the target is not empty. Files
keep their place under the station directory; paths that were outside it (an absolute
ca.dir, keystore mirrors on a USB drive) are restored under external/ and station.toml
is rewritten to point there (the original is kept as station.toml.before-restore).
A backup.restore entry is appended, so \`audit verify\` shows the chain across both.

The registry is restored as a SQLite file (with audit.jsonl and its head), also when the
backup was made from a station on PostgreSQL. With --registry postgres://… it goes into
that database instead (it must be empty): devices, rollouts, renewals, signing-key
rotations and the audit chain in one transaction, paths.registry in station.toml set to
the URL; a refused or failed move leaves the database and the target directory untouched.

Passphrase and key files are not in a backup: put them where the restored station.toml
says (they are listed), or use the environment variables. Keystore mirrors land on the
same disk: move each back to its own and fix keystore.mirrors.

Examples:
  espfleet backup restore /mnt/usb/line1-2026-12-02.efbak --to /srv/line1
  espfleet audit verify --station /srv/line1/station.toml
  espfleet backup restore line1.efbak --to /srv/line1 --registry postgres://espfleet@db.example/fleet2
  espfleet registry status --station /srv/line1/station.toml
  espfleet keystore export --keystore /srv/line1/keystore.json --mac 24:0a:c4:12:34:56 --out fe-key.bin`,
    )
    .action(async (file: string, opts: Options) => {
      const r = await restoreBackup(resolve(ctx.cwd, file), resolve(ctx.cwd, opts.to), await backupPassphrase(ctx, opts), opts.registry === undefined ? {} : { registry: opts.registry });
      if (opts.json) return ctx.json(r);
      ctx.out(`restored backup ${r.id} of station ${r.station} into ${r.to} (${r.files} files)`);
      ctx.out(`  ${r.counts.devices} devices, ${r.counts.auditEntries} audit entries (backup.restore is entry ${r.auditSeq}), ${r.counts.certificates} certificates, ${r.counts.keystoreRecords} escrowed keys`);
      ctx.out(`  station config: ${r.stationConfig}`);
      ctx.out(`  registry: ${r.registry}`);
      const rewritten = Object.entries(r.rewritten);
      if (rewritten.length > 0) ctx.out(`  paths rewritten: ${rewritten.map(([k, v]) => `${k} = ${v}`).join(', ')}`);
      for (const p of r.provide) ctx.out(`  provide ${p.key}: ${p.path}${p.present ? ' (present)' : ' (missing: not in backups by design)'}`);
      for (const m of r.mirrors) ctx.note(`warning: keystore mirror restored at ${m}, on the same disk as the keystore; move it to its own disk and update keystore.mirrors`);
    });
}
