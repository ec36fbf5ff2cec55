// `espfleet device rotate-cert`: a new certificate for a board over its USB cable, for a
// board that has been offline too long to renew by itself (provisioner/field/rotate-cert.ts).
// The CA is unlocked and the station's records opened before the board is touched; the old
// certificate is revoked only after the board is on the broker with the new one.
import type { Command } from 'commander';
import { revoke, signCsr } from '../../../../certs/index.ts';
import { withDevice } from '../../../field/device.ts';
import { FieldError } from '../../../field/errors.ts';
import { rotateCertificate, type RotationResult } from '../../../field/rotate-cert.ts';
import { prepareRevocationRecord } from '../../../station/revocation.ts';
import { intArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { caOptions, unlockCa, type CaDirOptions } from '../ca/unlock.ts';
import { findStation, STATION_ENV } from '../devices/station-paths.ts';
import { addDeviceOptions, deviceOptions, type DeviceCliOptions } from './device-options.ts';

interface Options extends DeviceCliOptions, CaDirOptions {
  station?: string;
  days?: number;
  confirmTimeout: number;
}

export function register(device: Command, ctx: CliContext): void {
  caOptions(addDeviceOptions(device.command('rotate-cert')))
    .description("give the board a new certificate over USB: key and CSR made on the board, signed here, old one revoked once the new one is in use")
    .option('--station <station.toml>', `record the rotation and the revocation in this station's registry and audit log (else $${STATION_ENV}, else ./station.toml)`)
    .option('--days <n>', 'validity of the new certificate in days (default 365)', intArg(1, 3650))
    .option('--confirm-timeout <s>', 'how long the board has after its reboot to connect to the broker with the new certificate', intArg(5, 3600), 120)
    .addHelpText(
      'after',
      `
Steps: the agent makes a new P-256 key in its free key slot and a CSR for its device id
(Espfleet.CertRequest; the key never crosses the cable), the CSR is signed with the
fleet CA here, the agent checks that the certificate fits the new key and chains to its
CA, saves it try_once and reboots onto it (Espfleet.CertInstall). The rotation counts
only when the board reports an MQTT connection with the new certificate
(Espfleet.CertStatus); if the broker refuses it, the board goes back to its old pair by
itself and the new certificate is revoked. Then the registry gets the new certificate,
and the old one is revoked (superseded); publish a new CRL (\`espfleet ca crl\`) and
reload the broker for the revocation to bite.

The board must reach the broker (Wi-Fi or Ethernet) for the confirmation.

Examples:
  espfleet device rotate-cert --port /dev/ttyUSB0 --ca-dir ./fleet-ca --station station.toml
  espfleet device rotate-cert --port rfc2217://bench:4000 --ca-dir ./fleet-ca --passphrase-file ca.pass --json`,
    )
    .action(async (opts: Options) => {
      // Everything that can refuse before the board is touched: the station's records, the CA.
      const station = findStation(ctx, opts.station);
      const ca = await unlockCa(ctx, opts);
      const recorder = station ? await prepareRevocationRecord(station) : undefined;
      const issued = new Map<string, { fingerprintSha256: string }>();
      let result: RotationResult;
      try {
        try {
          result = await withDevice(opts.port, deviceOptions(ctx, opts), (d) =>
            rotateCertificate(d, {
              confirmTimeoutMs: opts.confirmTimeout * 1000,
              onStep: (s) => ctx.note(s),
              signer: {
                async sign(csrPem, cn) {
                  // Before anything is signed: refused while the renewal service holds this board.
                  await recorder?.claimForRotation(cn);
                  const cert = await signCsr(ca, csrPem, { expectCn: cn, ...(opts.days ? { days: opts.days } : {}) });
                  issued.set(cert.serialHex, { fingerprintSha256: cert.fingerprintSha256 });
                  return cert;
                },
              },
            }),
          );
        } catch (e) {
          // The board refused the certificate or went back to its old pair: it is never used.
          if (e instanceof FieldError && (e.code === 'field.rotate.refused' || e.code === 'field.rotate.reverted')) {
            for (const serial of issued.keys()) {
              const rec = await revoke(ca, serial, 'cessationOfOperation');
              await recorder?.record({ serialHex: rec.serialHex, cn: rec.cn, role: rec.role, reason: 'cessationOfOperation' });
              ctx.note(`revoked the unused new certificate ${serial}`);
            }
          } else if (issued.size > 0) {
            ctx.note(`the new certificate ${[...issued.keys()].join(', ')} may or may not be in use: check the board before revoking anything`);
          }
          throw e;
        }
        const facts = issued.get(result.issued.serialHex);
        const audit = await recorder?.replaced({
          deviceId: result.deviceId,
          oldSerialHex: result.old.serialHex,
          issued: { serialHex: result.issued.serialHex, fingerprintSha256: facts?.fingerprintSha256 ?? '', notAfter: result.issued.notAfter },
          via: 'usb (espfleet device rotate-cert)',
        });
        let revokedOld: string | null = null;
        if (result.old.serialHex !== null && result.old.serialHex !== result.issued.serialHex) {
          try {
            const rec = await revoke(ca, result.old.serialHex, 'superseded');
            await recorder?.record({ serialHex: rec.serialHex, cn: rec.cn, role: rec.role, reason: 'superseded' });
            revokedOld = rec.serialHex;
          } catch (e) {
            ctx.note(`warning: the old certificate ${result.old.serialHex} was not revoked: ${(e as Error).message}`);
          }
        }
        const data = { ...result, revokedOld, audit: audit ?? null };
        if (opts.json) return ctx.json(data);
        ctx.out(`${result.deviceId}: new certificate ${result.issued.serialHex} (until ${result.issued.notAfter}) in use on the broker`);
        ctx.out(revokedOld ? `old certificate ${revokedOld} revoked (superseded)` : 'old certificate: serial unknown, not revoked');
        if (!recorder) ctx.note(`not recorded in a station registry or audit log: no station config (give --station, set $${STATION_ENV}, or run where station.toml is)`);
        ctx.note('publish a new CRL (`espfleet ca crl`) and reload the broker for the revocation to take effect');
      } finally {
        await recorder?.close();
      }
    });
}
