// `espfleet devices expiring`: from the registry, soonest first, expired ones included,
// revoked ones not, each with the renewal service's last attempt.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../../station/records.ts';
import { openRegistry } from '../../station/registry-sqlite.ts';
import { espfleet } from '../../test/cli-harness.ts';
import { RenewalJournal } from '../renewal-journal.ts';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'espfleet-expiring-'));
const registryPath = join(dir, 'registry.sqlite');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function device(id: string, n: number, days: number, status: DeviceRecord['status'] = 'provisioned'): DeviceRecord {
  const at = new Date().toISOString();
  return {
    deviceId: id, mac: `24:0a:c4:00:01:${n.toString(16).padStart(2, '0')}`, chipRevision: '3', certSerial: `5e${n}`, certFingerprintSha256: null,
    certNotAfter: new Date(Date.now() + days * DAY).toISOString(), firmwareVersion: '1.0.0', encryptionMode: 'off', keystoreRef: null, station: 'line1',
    operator: 'tech', status, reason: null, createdAt: at, updatedAt: at,
  };
}

beforeAll(async () => {
  const reg = await openRegistry(registryPath);
  await reg.upsert(device('far', 1, 200));
  await reg.upsert(device('soon', 2, 10.5));
  await reg.upsert(device('gone', 3, -2));
  await reg.upsert(device('revoked-one', 4, 5, 'revoked'));
  const at = new Date().toISOString();
  await new RenewalJournal(reg).put({
    deviceId: 'soon', req: 'exp-1', state: 'refused', csrSha256: 'x', spkiSha256: null, oldSerial: null, serial: null, notAfter: null, certPem: null,
    errorCode: 'renewal.rate_limited', error: 'too many', createdAt: at, updatedAt: at,
  });
  await reg.close();
});

describe('devices expiring', () => {
  it('--json: expired and expiring within the window, soonest first, with the last renewal attempt', async () => {
    const r = await espfleet(['devices', 'expiring', '--within', '30d', '--registry', registryPath, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((x) => x.deviceId)).toEqual(['gone', 'soon']);
    expect(rows[0]).toMatchObject({ expired: true, daysLeft: -2, lastRenewal: null });
    expect(rows[1]).toMatchObject({ expired: false, daysLeft: 10, certSerial: '5e2', lastRenewal: { req: 'exp-1', state: 'refused', errorCode: 'renewal.rate_limited' } });
  });

  it('text: a table; a narrower window; a bad duration is a usage error', async () => {
    const r = await espfleet(['devices', 'expiring', '--within', '30d', '--registry', registryPath]);
    expect(r.stdout.split('\n')[0]).toMatch(/^DEVICE ID\s+STATUS\s+CERT SERIAL\s+CERT EXPIRY\s+DAYS LEFT\s+LAST RENEWAL$/);
    expect(r.stdout).toMatch(/soon .*refused .*\[renewal\.rate_limited\]/);
    const narrow = await espfleet(['devices', 'expiring', '--within', '1d', '--registry', registryPath, '--json']);
    expect((JSON.parse(narrow.stdout) as Array<{ deviceId: string }>).map((x) => x.deviceId)).toEqual(['gone']);
    const bad = await espfleet(['devices', 'expiring', '--within', 'soon', '--registry', registryPath]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not a duration/);
  });
});
