// `devices expiring`: which boards' certificates end within a window, from the registry,
// with the renewal service's last attempt for each (the journal, renewal-journal.ts).
import type { DeviceRecord } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { RenewalJournal, type RenewalRow } from './renewal-journal.ts';

const DAY_MS = 86_400_000;

export interface ExpiringDevice {
  deviceId: string;
  status: DeviceRecord['status'];
  certSerial: string | null;
  certNotAfter: string;
  daysLeft: number;
  expired: boolean;
  lastRenewal: { req: string; state: RenewalRow['state']; at: string; serial: string | null; errorCode: string | null; error: string | null } | null;
}

/** Devices (not revoked) whose certificate ends before now + withinMs, soonest first. */
export async function expiringDevices(registry: Registry, withinMs: number, now = new Date()): Promise<ExpiringDevice[]> {
  const last = await new RenewalJournal(registry).latestByDevice();
  const horizon = now.getTime() + withinMs;
  return (await registry.list())
    .filter((d) => d.status !== 'revoked' && d.certNotAfter !== null && Date.parse(d.certNotAfter) <= horizon)
    .sort((a, b) => Date.parse(a.certNotAfter!) - Date.parse(b.certNotAfter!) || a.deviceId.localeCompare(b.deviceId))
    .map((d) => {
      const left = Date.parse(d.certNotAfter!) - now.getTime();
      const r = last.get(d.deviceId);
      return {
        deviceId: d.deviceId,
        status: d.status,
        certSerial: d.certSerial,
        certNotAfter: d.certNotAfter!,
        daysLeft: Math.trunc(left / DAY_MS), // whole days, toward zero
        expired: left <= 0,
        lastRenewal: r ? { req: r.req, state: r.state, at: r.updatedAt, serial: r.serial, errorCode: r.errorCode, error: r.error } : null,
      };
    });
}
