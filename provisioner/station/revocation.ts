// `espfleet ca revoke` on a station: the revocation is an audit entry (certificate.revoke)
// and, when the certificate is the one a registered device holds, the device's registry
// record becomes status revoked. The registry and the audit log are opened before the CA
// changes, so a locked registry or a broken log refuses the revocation instead of
// leaving it unrecorded.
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { openAuditLog } from './audit-log.ts';
import { openStationAudit } from './audit-sql.ts';
import type { StationConfig } from './config.ts';
import { withCertificate, type AuditAction, type AuditEntry, type DeviceRecord } from './records.ts';
import { isPostgresUrl, openRegistryAt, type Registry } from './open-registry.ts';

export interface RevokedCertificate {
  serialHex: string;
  cn: string;
  role: string;
  reason: string;
}

export interface CertificateReplacement {
  deviceId: string;
  oldSerialHex: string | null;
  issued: { serialHex: string; fingerprintSha256: string; notAfter: string };
  /** How the board got it, e.g. 'usb (espfleet device rotate-cert)'. */
  via: string;
}

export interface RevocationRecord {
  /** The audit entry written. */
  audit: { path: string; seq: number };
  /** The device record now revoked, or why none changed. */
  registry: { path: string; deviceId: string; status: 'revoked' } | { path: string; unchanged: string };
}

/** Same serial whatever the notation (case, colons, leading zeros). */
function sameSerial(a: string | null, b: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '');
  return a !== null && norm(a) === norm(b);
}

function whoAmI(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}

/**
 * Opens the station's registry and audit log; `record` then writes the revocation to both.
 * Call it before revoking in the CA: whatever refuses here refuses before anything changed.
 */
export async function prepareRevocationRecord(config: StationConfig, opts: { clock?: () => Date; actor?: string } = {}) {
  const registryPath = config.paths.registry;
  const registry: Registry | undefined = isPostgresUrl(registryPath) || existsSync(registryPath) ? await openRegistryAt(registryPath) : undefined;
  try {
    const clock = opts.clock ? { clock: opts.clock } : {};
    const audit = registry ? await openStationAudit(registry, config.paths.audit, clock) : await openAuditLog(config.paths.audit, clock);
    const actor = opts.actor ?? whoAmI();
    const claimed = new Set<string>();
    return {
      async record(cert: RevokedCertificate): Promise<RevocationRecord> {
        const now = (opts.clock?.() ?? new Date()).toISOString();
        let outcome: RevocationRecord['registry'];
        const device: DeviceRecord | undefined = registry && cert.role === 'device' ? await registry.get(cert.cn) : undefined;
        if (!registry) outcome = { path: registryPath, unchanged: 'no registry yet' };
        else if (!device) outcome = { path: registryPath, unchanged: `no device ${cert.cn} in the registry` };
        else if (!sameSerial(device.certSerial, cert.serialHex)) {
          outcome = { path: registryPath, unchanged: `${device.deviceId} holds certificate ${device.certSerial ?? 'none'}, not ${cert.serialHex}` };
        } else {
          await registry.upsert({ ...device, status: 'revoked', reason: `certificate ${cert.serialHex} revoked (${cert.reason}) by ${actor}`, updatedAt: now });
          outcome = { path: registryPath, deviceId: device.deviceId, status: 'revoked' };
        }
        const entry: AuditEntry = await audit.append({
          action: 'certificate.revoke',
          actor,
          subject: { serial: cert.serialHex, cn: cert.cn, ...(device ? { deviceId: device.deviceId, mac: device.mac } : {}) },
          details: { reason: cert.reason, role: cert.role, station: config.station.id, by: 'espfleet ca revoke', registry: 'deviceId' in outcome ? 'revoked' : outcome.unchanged },
        });
        return { audit: { path: config.paths.audit, seq: entry.seq }, registry: outcome };
      },
      /**
       * A device's certificate replaced by a new one it holds (USB rotation): the registry
       * record takes the new certificate's facts, the audit log says who, how and old → new.
       * Recorded before the old certificate is revoked, so that revocation leaves the device be.
       */
      async replaced(change: CertificateReplacement): Promise<{ path: string; seq: number }> {
        const now = (opts.clock?.() ?? new Date()).toISOString();
        const device = registry ? await registry.get(change.deviceId) : undefined;
        if (registry && device) {
          await registry.upsert(withCertificate(device, change.issued, now));
        }
        const entry = await audit.append({
          action: 'certificate.rotate',
          actor,
          subject: { deviceId: change.deviceId, serial: change.issued.serialHex, ...(device ? { mac: device.mac } : {}) },
          details: { old: change.oldSerialHex, via: change.via, notAfter: change.issued.notAfter, station: config.station.id, registry: device ? 'updated' : `no device ${change.deviceId} in the registry` },
        });
        return { path: config.paths.audit, seq: entry.seq };
      },
      /** A CA-wide step (an issuing-CA rollover): one audit entry. */
      async caEvent(action: AuditAction, subject: Record<string, string>, details: Record<string, unknown>): Promise<{ path: string; seq: number }> {
        const entry = await audit.append({ action, actor, subject, details: { ...details, station: config.station.id } });
        return { path: config.paths.audit, seq: entry.seq };
      },
      /**
       * Claims the board for a rotation before its new certificate is signed, so the renewal
       * service cannot change it at the same time (refused with station.registry.device_busy).
       */
      async claimForRotation(deviceId: string, ttlMs = 15 * 60_000): Promise<void> {
        await registry?.claimDevice(deviceId, `rotate-cert:${actor}:${process.pid}`, 'rotation', ttlMs);
        claimed.add(deviceId);
      },
      async close(): Promise<void> {
        for (const id of claimed) await registry?.releaseDevice(id, `rotate-cert:${actor}:${process.pid}`).catch(() => undefined);
        await registry?.close();
      },
    };
  } catch (e) {
    await registry?.close();
    throw e;
  }
}

/**
 * For a CA-wide step (an issuing-CA rollover): opens the station's audit log first, so a
 * log that refuses stops the step before it changes the CA; `record` then writes the entry.
 * Without a station nothing is recorded.
 */
export async function prepareCaEventRecord(config: StationConfig | undefined) {
  const recorder = config ? await prepareRevocationRecord(config) : undefined;
  return {
    async record(action: AuditAction, subject: Record<string, string>, details: Record<string, unknown>): Promise<{ path: string; seq: number } | undefined> {
      return recorder?.caEvent(action, subject, details);
    },
    async close(): Promise<void> {
      await recorder?.close();
    },
  };
}
