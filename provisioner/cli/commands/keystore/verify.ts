// `espfleet keystore verify`: every escrow store (keystore.path and keystore.mirrors, or
// --keystore and --mirror) opens under the secret and holds the same records with the same
// secrets; differences are listed. Exit status 0 when all agree, 1 otherwise.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { checkCopies, describeDifference } from '../../../../certs/index.ts';
import { UsageError } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { ExitCode } from '../../exit.ts';
import { deprecatedAlias } from '../../flags.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { escrowCopies, escrowStores, keystoreSecretSource } from '../../../station/config.ts';
import { findStation, stationOption } from '../devices/station-paths.ts';
import { keystoreSecret, KEYSTORE_PASSPHRASE_ENV } from './secret.ts';

interface Options {
  station?: string;
  keystore?: string;
  mirror: string[];
  keystoreKeyFile?: string;
  keystorePassphraseFile?: string;
  json?: boolean;
}

export function register(keystore: Command, ctx: CliContext): void {
  const cmd = stationOption(keystore.command('verify'));
  cmd
    .description('check every copy of the keystore: each opens with the secret, all hold the same records and keys')
    .option('--keystore <path>', 'the keystore (instead of keystore.path of the station config)')
    .option('--mirror <path>', 'a further copy to compare (repeatable; instead of keystore.mirrors)', (v: string, all: string[]) => [...all, v], [])
    .option('--keystore-key-file <file>', 'unlock the keystore with a 32-byte key file instead of a passphrase')
    .option('--keystore-passphrase-file <file>', `read the keystore passphrase from a file (else $${KEYSTORE_PASSPHRASE_ENV}, else a prompt)`)
    .option('--json', 'print the result as JSON');
  deprecatedAlias(cmd, '--key-file <file>', 'keystoreKeyFile');
  deprecatedAlias(cmd, '--passphrase-file <file>', 'keystorePassphraseFile');
  cmd
    .addHelpText(
      'after',
      `
With --station (or $ESPFLEET_STATION, or ./station.toml) the stores are keystore.path
and every keystore.mirrors path, unlocked as the station unlocks them; escrow.copies
is shown. Every copy must open (authentic under the secret) and hold the same records
with the same keys; a record missing from one copy, or a key that differs, is named.
Secrets are never printed. Exit status: 0 all copies agree, 1 otherwise.

Examples:
  espfleet keystore verify --station /srv/line1/station.toml
  espfleet keystore verify --keystore keys.json --mirror /mnt/usb/keys.json --keystore-key-file /secure/keystore.key --json`,
    )
    .action(async (opts: Options) => {
      let paths: string[];
      let copies: number | undefined;
      let secret;
      if (opts.keystore !== undefined) {
        paths = [opts.keystore, ...opts.mirror].map((p) => resolve(ctx.cwd, p));
        secret = await keystoreSecret(ctx, opts);
      } else {
        const cfg = findStation(ctx, opts.station);
        if (!cfg || cfg.keystore.path === null) {
          throw new UsageError('cli.bad_argument', cfg ? `${cfg.source}: keystore.path is not set` : 'no station config: give --station <station.toml> or --keystore <path>');
        }
        paths = [...escrowStores(cfg), ...opts.mirror.map((p) => resolve(ctx.cwd, p))];
        copies = escrowCopies(cfg);
        const source = keystoreSecretSource(cfg);
        secret = opts.keystoreKeyFile || opts.keystorePassphraseFile ? await keystoreSecret(ctx, opts) : 'keyFile' in source ? source : { passphrase: await resolvePassphrase(ctx, source.passphrase) };
      }
      const r = await checkCopies(paths, secret);
      const enough = copies === undefined || paths.length >= copies;
      if (opts.json) ctx.json({ ...r, ok: r.ok && enough, ...(copies === undefined ? {} : { copiesRequired: copies }) });
      else {
        for (const s of r.stores) ctx.out(s.ok ? `ok      ${s.path}: ${s.records} records` : `FAILED  ${s.path}: ${s.message} [${s.code}]`);
        for (const d of r.differences) ctx.out(`differs: ${describeDifference(d)}`);
        if (!enough) ctx.out(`too few stores: escrow.copies is ${copies}, ${paths.length} configured`);
        ctx.out(r.ok && enough ? `all ${paths.length} copies agree` : `the copies do NOT agree`);
      }
      if (!r.ok || !enough) throw new ExitCode(1);
    });
}
