// `espfleet keystore list`: which devices have escrowed secrets (never the secrets).
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { renderTable } from '../../format.ts';
import { keystoreOptions, openKeystoreFromOptions, type KeystoreCliOptions } from './secret.ts';

export function register(keystore: Command, ctx: CliContext): void {
  keystoreOptions(keystore.command('list'))
    .description('list escrowed records (device id, MAC, kind, date); secrets are never shown')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Unlocking is required: it proves the file is intact (the whole file is
authenticated) before anything is listed.

Example:
  espfleet keystore list --keystore factory-keys.json --keystore-key-file /secure/keystore.key --json`,
    )
    .action(async (opts: KeystoreCliOptions) => {
      const ks = await openKeystoreFromOptions(ctx, opts);
      const entries = ks.list();
      if (opts.json) return ctx.json(entries);
      if (entries.length === 0) return ctx.out('no records');
      // The order the description gives: device id, MAC, kind, date.
      for (const line of renderTable(['DEVICE ID', 'MAC', 'KIND', 'CREATED'], entries.map((e) => [e.deviceId, e.mac, e.kind, e.createdAt]))) ctx.out(line);
    });
}
