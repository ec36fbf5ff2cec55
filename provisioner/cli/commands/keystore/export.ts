// `espfleet keystore export`: one board's flash-encryption key as a 32-byte key file for
// Espressif's tools (espsecure decrypt-flash-data …). Logged before it is written.
import { InvalidArgumentError, type Command } from 'commander';
import { normalizeMac } from '../../../../certs/index.ts';
import { exportFlashKey, exportLogPath } from '../../../encryption/index.ts';
import type { CliContext } from '../../context.ts';
import { keystoreOptions, openKeystoreFromOptions, type KeystoreCliOptions } from './secret.ts';

interface Options extends KeystoreCliOptions {
  mac: string;
  out: string;
}

export function register(keystore: Command, ctx: CliContext): void {
  keystoreOptions(keystore.command('export'))
    .description("write one board's escrowed flash-encryption key to a key file (mode 0600), logged")
    .requiredOption('--mac <mac>', 'the board, by factory MAC (24:0a:c4:12:34:56)', macArg)
    .requiredOption('--out <key.bin>', 'the key file to create (never overwritten)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The key file is in espsecure's byte order. Every export is appended to
<keystore>.exports.jsonl (time, MAC, device id, output path, user, host) before the
key is written. Delete the key file when the job is done.

Example:
  espfleet keystore export --keystore keys.json --mac 24:0a:c4:12:34:56 --out fe-key.bin
  espsecure decrypt-flash-data --keyfile fe-key.bin --address 0x10000 -o app.bin app-raw.bin`,
    )
    .action(async (opts: Options) => {
      const ks = await openKeystoreFromOptions(ctx, opts);
      const record = exportFlashKey(ks, opts.mac, opts.out);
      if (opts.json) return ctx.json({ ...record, log: exportLogPath(ks.path) });
      ctx.out(`exported the flash-encryption key of ${record.deviceId} (${record.mac}) to ${record.out} (mode 0600); logged in ${exportLogPath(ks.path)}`);
    });
}

/** Checked before the keystore is opened: "zz:00" is "invalid MAC", not "no key for {…}". */
function macArg(text: string): string {
  try {
    return normalizeMac(text);
  } catch {
    throw new InvalidArgumentError(`invalid MAC ${JSON.stringify(text)}: expected six hex bytes such as 24:0a:c4:12:34:56`);
  }
}
