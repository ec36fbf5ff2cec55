// A registry of many made-up devices for the dashboard's tests and its benchmark, on either
// backend (a file path or a postgres:// URL): written in one locked write through the
// registry's own row writer (one upsert per record would rewrite the whole file ten
// thousand times). Varied statuses, versions and expiry months.
import { openRegistryAt } from '../../station/open-registry.ts';
import { writeRecord } from '../../station/registry-sql.ts';
import type { DeviceRecord, DeviceStatus } from '../../station/records.ts';

const STATUSES: DeviceStatus[] = ['provisioned', 'provisioned', 'provisioned', 'provisioned', 'provisioned', 'provisioned', 'failed', 'revoked'];
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '1.3.0'];

export function seededRecord(i: number, base = Date.parse('2026-12-01T00:00:00Z')): DeviceRecord {
  const hex = i.toString(16).padStart(6, '0');
  const status = STATUSES[i % STATUSES.length]!;
  const mac = `24:0a:c4:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
  return {
    deviceId: `esp32_${hex.toUpperCase()}`,
    mac,
    chipRevision: 'v3.0',
    certSerial: (0x1000 + i).toString(16),
    certFingerprintSha256: hex.padEnd(64, '0'),
    // Spread over the next two years, a few already expired.
    certNotAfter: new Date(base + ((i * 37) % 760) * 86_400_000 - 20 * 86_400_000).toISOString(),
    firmwareVersion: VERSIONS[(i * 7) % VERSIONS.length]!,
    encryptionMode: 'development',
    keystoreRef: null,
    station: i % 3 === 0 ? 'line2' : 'line1',
    operator: 'alice',
    status,
    reason: status === 'failed' ? 'station.boot_check: no MQTT connected line within 20 s' : null,
    createdAt: new Date(base - (10_000 - i) * 60_000).toISOString(),
    updatedAt: new Date(base - (10_000 - i) * 30_000).toISOString(),
  };
}

/** Creates (or extends) the registry at `location` (a file or a postgres:// URL) with records 0..n-1; returns them. */
export async function seedRegistry(location: string, n: number): Promise<DeviceRecord[]> {
  const records = Array.from({ length: n }, (_, i) => seededRecord(i));
  const registry = await openRegistryAt(location);
  try {
    await registry.transaction(async (tx) => {
      for (const r of records) await writeRecord(tx, r);
    });
    // What the registry reads back is the proof the columns matched.
    const last = records[n - 1]!;
    const back = await registry.get(last.deviceId);
    const wrong = (Object.keys(last) as (keyof DeviceRecord)[]).filter((k) => back?.[k] !== last[k]);
    if (wrong.length > 0) throw new Error(`seeded record reads back differently in ${wrong.join(', ')}: ${JSON.stringify(back)}`);
  } finally {
    await registry.close();
  }
  return records;
}
