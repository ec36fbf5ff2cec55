// A complete DeviceRecord for registry and CLI tests; override what a test is about.
import type { DeviceRecord } from '../station/records.ts';

export function deviceRecord(over: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    deviceId: 'esp32_123456',
    mac: '24:0a:c4:12:34:56',
    chipRevision: 'v3.0',
    certSerial: '01ab',
    certFingerprintSha256: 'ab'.repeat(32),
    certNotAfter: '2027-11-23T00:00:00.000Z',
    firmwareVersion: '1.4.2',
    encryptionMode: 'development',
    keystoreRef: 'factory-keys.json#esp32_123456',
    station: 'line1',
    operator: 'alice',
    status: 'provisioned',
    reason: null,
    createdAt: '2026-11-23T10:00:00.000Z',
    updatedAt: '2026-11-23T10:05:00.000Z',
    ...over,
  };
}
