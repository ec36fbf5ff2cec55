// `espfleet fw sign`: add a signature slot to a bundle (spec mongoose-os.md §1.5).
import type { Command } from 'commander';
import { loadPrivateKey, readBundle, signBundle } from '../../../../firmware-js/bundle/index.ts';
import { readInputFile, writeFileDurable } from '../../../io/files.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { resolvePassphrase } from '../../secrets.ts';
import { SIGNING_PASSPHRASE_ENV } from './keygen.ts';

interface Options {
  key: string;
  slot: number;
  out?: string;
  passphraseFile?: string;
  json?: boolean;
}

export function register(fw: Command, ctx: CliContext): void {
  fw.command('sign <bundle>')
    .description('sign a fw.zip bundle: ECDSA P-256 over the manifest, stored as sig<slot>')
    .requiredOption('--key <key.pem>', 'private signing key (from `espfleet fw keygen`)')
    .option('--slot <n>', 'signature slot 0..7, matching the device key update.key<n>', intArg(0, 7), 0)
    .option('--out <file>', 'write the signed bundle here instead of replacing <bundle>')
    .option('--passphrase-file <file>', `passphrase of an encrypted key (else $${SIGNING_PASSPHRASE_ENV}, else a prompt)`)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Other slots' signatures are kept, so several keys can sign one bundle (key
rotation: sign with the old and the new key, then raise update.sig_req_mask).
The manifest bytes are not changed. The bundle is checked before signing.

Example:
  espfleet fw sign fw.zip --key release-key.pem --slot 0 --out fw.signed.zip`,
    )
    .action(async (bundlePath: string, opts: Options) => {
      const zip = readInputFile(bundlePath, 'bundle');
      readBundle(zip); // refuse to sign something a device would reject anyway
      const pem = new TextDecoder().decode(readInputFile(opts.key, 'signing key'));
      const encrypted = pem.includes('ENCRYPTED');
      const passphrase = encrypted
        ? await resolvePassphrase(ctx, { what: 'signing key', envVar: SIGNING_PASSPHRASE_ENV, file: opts.passphraseFile })
        : undefined;
      const signed = signBundle(zip, loadPrivateKey(pem, passphrase), opts.slot);
      const out = opts.out ?? bundlePath;
      writeFileDurable(out, signed);
      if (opts.json) return ctx.json({ bundle: bundlePath, slot: opts.slot, out, bytes: signed.length });
      ctx.out(`signed ${bundlePath} in slot ${opts.slot} → ${out}`);
    });
}
