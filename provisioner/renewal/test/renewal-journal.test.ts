// The renewal journal on both registry backends: a row per (device, request id), replaced
// by put, read back by device (newest first), by state, and newest per device.
import { describe, expect, it as itOn } from 'vitest';
import { openRegistryAt } from '../../station/open-registry.ts';
import { registryBackends } from '../../test/registry-backends.ts';
import { RenewalJournal, type RenewalRow } from '../renewal-journal.ts';

function row(over: Partial<RenewalRow>): RenewalRow {
  return {
    deviceId: 'board-a', req: 'r1', state: 'signed', csrSha256: 'cd'.repeat(32), spkiSha256: 'ef'.repeat(32), oldSerial: '01', serial: '02', notAfter: '2027-12-02T00:00:00.000Z',
    certPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', errorCode: null, error: null, createdAt: '2026-12-02T10:00:00.000Z', updatedAt: '2026-12-02T10:00:00.000Z',
    ...over,
  };
}

describe.each(registryBackends())('renewal journal on $name', (backend) => {
  const it = itOn.skipIf(!backend.available);

  it('put inserts and replaces; get, forDevice, inState and latestByDevice read it back', async () => {
    const where = await backend.fresh();
    const reg = await openRegistryAt(where);
    const j = new RenewalJournal(reg);
    await j.put(row({}));
    await j.put(row({ req: 'r2', createdAt: '2026-12-02T11:00:00.000Z', serial: '03' }));
    await j.put(row({ deviceId: 'board-b', req: 'x1', state: 'refused', serial: null, certPem: null, errorCode: 'renewal.csr.bad_signature', error: 'bad signature' }));
    await j.put(row({ state: 'confirmed', updatedAt: '2026-12-02T10:05:00.000Z' }));
    expect(await j.get('board-a', 'r1')).toEqual(row({ state: 'confirmed', updatedAt: '2026-12-02T10:05:00.000Z' }));
    expect(await j.get('board-a', 'nope')).toBeUndefined();
    expect((await j.forDevice('board-a')).map((r) => r.req)).toEqual(['r2', 'r1']);
    expect((await j.inState('signed', 'refused')).map((r) => `${r.deviceId}/${r.req}`)).toEqual(['board-b/x1', 'board-a/r2']);
    const latest = await j.latestByDevice();
    expect([...latest.keys()].sort()).toEqual(['board-a', 'board-b']);
    expect(latest.get('board-a')?.req).toBe('r2');
    await reg.close();
    // Another handle (another process) reads the same rows.
    const again = await openRegistryAt(where, { readOnly: true });
    expect(await new RenewalJournal(again).get('board-b', 'x1')).toMatchObject({ state: 'refused', errorCode: 'renewal.csr.bad_signature' });
    await again.close();
  });
});
