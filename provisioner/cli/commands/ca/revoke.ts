// `espfleet ca revoke`: mark a certificate revoked in the CA's issuance index and, on a
// station, record it: an audit entry, and the device's registry record set to revoked.
import { type Command, Option } from 'commander';
import { CRL_REASONS, revoke, type CrlReason } from '../../../../certs/index.ts';
import { publishCrl } from '../../../renewal/broker-crl.ts';
import { prepareRevocationRecord, type RevocationRecord } from '../../../station/revocation.ts';
import type { CliContext } from '../../context.ts';
import { findStation, STATION_ENV } from '../devices/station-paths.ts';
import { caOptions, unlockCa, type CaDirOptions } from './unlock.ts';

interface Options extends CaDirOptions {
  serial: string;
  reason: CrlReason;
  station?: string;
  crlOut?: string;
  brokerPidFile?: string;
}

export function register(ca: Command, ctx: CliContext): void {
  caOptions(ca.command('revoke'))
    .description('revoke a certificate by serial number (recorded in the station audit log and registry)')
    .requiredOption('--serial <hex>', 'serial number as printed by `ca list` (colons and 0x allowed)')
    .addOption(new Option('--reason <reason>', 'RFC 5280 reason code').choices(Object.keys(CRL_REASONS)).default('unspecified'))
    .option('--station <station.toml>', `record the revocation in this station's audit log and registry (else $${STATION_ENV}, else ./station.toml)`)
    .option('--crl-out <crl.pem>', "then write a new CRL here (the broker's crlfile, atomically)")
    .option('--broker-pid-file <file>', 'and send SIGHUP to the mosquitto whose pid this file holds, so new handshakes see it')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
On a station (--station, $${STATION_ENV} or ./station.toml) the revocation is appended to
its audit log and, if the certificate is the one a registered device holds, that
device's record becomes status revoked (\`espfleet devices list --status revoked\`). The
registry and audit log are opened first: if either refuses, nothing is revoked.

Revocation takes effect on the broker only after a new CRL is published and the
broker reloads it: --crl-out <the broker's crlfile> --broker-pid-file <mosquitto's pid
file> does both (else \`espfleet ca crl\` and SIGHUP, docs/pki.md). Sessions already
open stay open: cut one with \`espfleet broker kick --device <id>\`.

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
        const crl = opts.crlOut ? publishCrl(ca, { out: opts.crlOut, ...(opts.brokerPidFile ? { pidFile: opts.brokerPidFile } : {}) }) : undefined;
        data = { serial: rec.serialHex, cn: rec.cn, role: rec.role, reason: opts.reason, recorded: recorded ?? null, crl: crl ? { out: opts.crlOut, crlNumber: crl.crlNumber, reloaded: crl.reloaded } : null };
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
      const crl = data.crl as { out: string; crlNumber: number; reloaded: number | null } | null;
      if (crl) ctx.out(`CRL #${crl.crlNumber} → ${crl.out}${crl.reloaded ? `; broker ${crl.reloaded} reloaded (SIGHUP)` : ''}`);
      if (!crl?.reloaded) ctx.note('publish a new CRL (--crl-out, or `espfleet ca crl`) and reload the broker for this to take effect');
      ctx.note(`an open session stays open: \`espfleet broker kick --device ${String(data.cn)}\` closes it`);
    });
}
