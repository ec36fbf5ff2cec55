// `espfleet ca revoke`: mark a certificate revoked in the CA's issuance index and, on a
// station, record it: an audit entry, and the device's registry record set to revoked.
import { type Command, Option } from 'commander';
import { CRL_REASONS, revoke, type CrlReason } from '../../../../certs/index.ts';
import { prepareRevocationRecord, type RevocationRecord } from '../../../station/revocation.ts';
import type { CliContext } from '../../context.ts';
import { findStation, STATION_ENV } from '../devices/station-paths.ts';
import { caOptions, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  serial: string;
  reason: CrlReason;
  station?: string;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('revoke'))
    .description('revoke a certificate by serial number (recorded in the station audit log and registry)')
    .requiredOption('--serial <hex>', 'serial number as printed by `ca list` (colons and 0x allowed)')
    .addOption(new Option('--reason <reason>', 'RFC 5280 reason code').choices(Object.keys(CRL_REASONS)).default('unspecified'))
    .option('--station <station.toml>', `record the revocation in this station's audit log and registry (else $${STATION_ENV}, else ./station.toml)`)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
On a station (--station, $${STATION_ENV} or ./station.toml) the revocation is appended to
its audit log and, if the certificate is the one a registered device holds, that
device's record becomes status revoked (\`espfleet devices list --status revoked\`). The
registry and audit log are opened first: if either refuses, nothing is revoked.

Revocation takes effect on the broker only after a new CRL is published and the
broker reloads it: run \`espfleet ca crl\`, copy it over the broker's crlfile and
send mosquitto SIGHUP (docs/pki.md). Sessions already open stay open until cut.

Example:
  espfleet ca revoke --ca-dir ./fleet-ca --serial 4d7207e10677b7f6d7444cbf78b497b9 --reason keyCompromise --station station.toml`,
    )
    .action(async (opts: Options) => {
      const station = findStation(ctx, opts.station);
      const ca = await unlockCa(ctx, opts);
      const recorder = station ? await prepareRevocationRecord(station) : undefined;
      let recorded: RevocationRecord | undefined;
      let data: Record<string, unknown>;
      try {
        const rec = await revoke(ca, opts.serial, opts.reason);
        recorded = await recorder?.record({ serialHex: rec.serialHex, cn: rec.cn, role: rec.role, reason: opts.reason });
        data = { serial: rec.serialHex, cn: rec.cn, role: rec.role, reason: opts.reason, recorded: recorded ?? null };
      } finally {
        await recorder?.close();
      }
      if (opts.json) return ctx.json(data);
      ctx.out(`revoked ${String(data.serial)} (${String(data.role)} ${String(data.cn)}, ${opts.reason})`);
      if (recorded) {
        ctx.out(`audit: entry ${recorded.audit.seq} in ${recorded.audit.path}`);
        ctx.out('deviceId' in recorded.registry ? `registry: ${recorded.registry.deviceId} is now revoked (${recorded.registry.path})` : `registry: unchanged, ${recorded.registry.unchanged} (${recorded.registry.path})`);
      } else {
        ctx.note(`not recorded in a station audit log or registry: no station config (give --station, set $${STATION_ENV}, or run where station.toml is)`);
      }
      ctx.note('publish a new CRL (`espfleet ca crl`) and reload the broker for this to take effect');
    });
}
