// Shared by the `ca` subcommands: where the CA passphrase comes from (env, file or
// prompt — never argv, never logged; DESIGN.md invariant 3) and how results print.
import type { Command } from 'commander';
import { openCa, type Ca, type IssuedCertificate } from '../../../../certs/index.ts';
import type { CliContext } from '../../context.ts';
import { deprecatedAlias } from '../../flags.ts';
import { resolvePassphrase } from '../../secrets.ts';

export const CA_PASSPHRASE_ENV = 'ESPFLEET_CA_PASSPHRASE';

export interface CaDirOptions {
  caDir: string;
  passphraseFile?: string;
  json?: boolean;
}

/** --ca-dir (the one spelling; --dir for one more release), for every command that reads the CA. */
export function caDirOption(cmd: Command, description = 'CA directory made by `espfleet ca init`'): Command {
  return deprecatedAlias(cmd.requiredOption('--ca-dir <dir>', description), '--dir <dir>', 'caDir');
}

/** --ca-dir and --passphrase-file, the options every key-using `ca` command takes. */
export function caOptions(cmd: Command): Command {
  return caDirOption(cmd)
    .option('--passphrase-file <file>', `read the CA passphrase from a file (else $${CA_PASSPHRASE_ENV}, else a prompt)`);
}

export async function unlockCa(ctx: CliContext, opts: CaDirOptions): Promise<Ca> {
  const passphrase = await resolvePassphrase(ctx, { what: 'CA key', envVar: CA_PASSPHRASE_ENV, file: opts.passphraseFile });
  return openCa(opts.caDir, passphrase);
}

/** The public facts of an issued certificate, for text and --json output. */
export function describeIssued(cert: IssuedCertificate, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...extra,
    serial: cert.serialHex,
    fingerprintSha256: cert.fingerprintSha256,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}

export function printIssued(ctx: CliContext, data: Record<string, unknown>, json: boolean | undefined): void {
  if (json) return ctx.json(data);
  for (const [k, v] of Object.entries(data)) ctx.out(`${`${k}:`.padEnd(19)} ${Array.isArray(v) ? v.join(', ') : String(v)}`);
}
