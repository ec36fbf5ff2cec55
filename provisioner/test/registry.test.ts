// The device registry on both backends (the SQLite file, PostgreSQL): round trip,
// durability across reopen, ordered once-only migrations, refusal of a newer schema,
// uniqueness of device id and MAC, several writers at once, per-board claims. Then what
// only the SQLite file has: its lock, atomic replace and read-only open.
import { deviceRecord } from './device-record.ts';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile, spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { migrations, type Migration } from '../station/registry-migrations.ts';
import { openRegistryAt } from '../station/open-registry.ts';
import { LATEST_SCHEMA_VERSION, RegistryError, normalizeMac, openRegistry } from '../station/registry-sqlite.ts';
import { registryBackends } from './registry-backends.ts';

function tempPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'espfleet-registry-')), 'registry.sqlite');
}


describe.each(registryBackends())('registry on $name', (backend) => {
  const it_ = it.skipIf(!backend.available);

  it_('round-trips records and finds them by id and by MAC in any notation', async () => {
    const reg = await openRegistryAt(await backend.fresh());
    const a = deviceRecord();
    const b = deviceRecord({ deviceId: 'esp32_ABCDEF', mac: '24:0a:c4:ab:cd:ef', status: 'failed', reason: 'flash verify failed', certSerial: null, certNotAfter: null });
    await reg.upsert(a);
    await reg.upsert(b);
    expect(await reg.get('esp32_123456')).toEqual(a);
    expect(await reg.get('nope')).toBeUndefined();
    expect(await reg.findByMac('24-0A-C4-AB-CD-EF')).toEqual(b);
    expect(await reg.findByMac('240ac4123456')).toEqual(a);
    expect(await reg.findByMac('not a mac')).toBeUndefined();
    expect(await reg.list()).toEqual([a, b]);
    expect(await reg.list({ status: 'failed' })).toEqual([b]);
    expect(await reg.list({ station: 'other' })).toEqual([]);
    await reg.close();
  });

  it_('upsert replaces by device id and is stored when it resolves (a second handle reads it)', async () => {
    const where = await backend.fresh();
    const reg = await openRegistryAt(where);
    await reg.upsert(deviceRecord({ status: 'provisioning', firmwareVersion: null }));
    await reg.upsert(deviceRecord({ status: 'provisioned' }));
    // No close: every write is already durable.
    const again = await openRegistryAt(where, { readOnly: true });
    expect(await again.list()).toEqual([deviceRecord({ status: 'provisioned' })]);
    await expect(again.upsert(deviceRecord())).rejects.toMatchObject({ code: 'station.registry.read_only' });
    await again.close();
    await reg.close();
  });

  it_('refuses a second device id for the same MAC, a second MAC for the same device id, and malformed records', async () => {
    const reg = await openRegistryAt(await backend.fresh());
    await reg.upsert(deviceRecord());
    await expect(reg.upsert(deviceRecord({ deviceId: 'other' }))).rejects.toMatchObject({ code: 'station.registry.conflict' });
    await expect(reg.upsert(deviceRecord({ mac: '24:0a:c4:00:00:02' }))).rejects.toMatchObject({ code: 'station.registry.conflict', message: expect.stringContaining('device id esp32_123456 is already registered for MAC 24:0a:c4:12:34:56') });
    await expect(reg.upsert(deviceRecord({ deviceId: 'x', mac: '24:0A:C4:00:00:01' }))).rejects.toMatchObject({ code: 'station.registry.bad_record' });
    await expect(reg.upsert(deviceRecord({ status: 'done' as never }))).rejects.toThrow(/status must be one of/);
    expect(await reg.list()).toEqual([deviceRecord()]);
    await reg.close();
  });

  it_('an open registry sees records another handle wrote, and keeps them when it writes', async () => {
    const where = await backend.fresh();
    const a = await openRegistryAt(where);
    const b = await openRegistryAt(where);
    await a.upsert(deviceRecord());
    expect(await b.get('esp32_123456')).toEqual(deviceRecord());
    await b.upsert(deviceRecord({ deviceId: 'esp32_ABCDEF', mac: '24:0a:c4:ab:cd:ef' }));
    expect((await a.list()).map((r) => r.deviceId)).toEqual(['esp32_123456', 'esp32_ABCDEF']);
    await expect(b.upsert(deviceRecord({ deviceId: 'esp32_OTHER' }))).rejects.toMatchObject({ code: 'station.registry.conflict' });
    await a.close();
    await b.close();
  });

  it_('two processes writing records at once lose none and double none', { timeout: 120_000 }, async () => {
    const where = await backend.fresh();
    await (await openRegistryAt(where)).close();
    const count = 40;
    const start = String(Date.now() + 2500);
    const outs = await Promise.all([1, 2].map((tag) => run(process.execPath, ['--import', 'tsx', writer, where, String(tag), String(count), start], { timeout: 100_000 })));
    expect(outs.map((o) => o.stdout.trim())).toEqual([`wrote ${count}`, `wrote ${count}`]);
    const reg = await openRegistryAt(where, { readOnly: true });
    const records = await reg.list();
    expect(records).toHaveLength(2 * count);
    expect(new Set(records.map((r) => r.mac)).size).toBe(2 * count);
    await reg.close();
  });

  it_('two stations racing for one MAC: exactly one records it', async () => {
    const where = await backend.fresh();
    const handles = await Promise.all([1, 2, 3, 4].map(() => openRegistryAt(where)));
    const results = await Promise.allSettled(handles.map((h, i) => h.upsert(deviceRecord({ deviceId: `esp32_RACE${i}`, station: `line${i}` }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'station.registry.conflict' });
    expect(await handles[0]!.list()).toHaveLength(1);
    for (const h of handles) await h.close();
  });

  it_('a board is claimed by one holder at a time: the second gets device_busy naming the first', async () => {
    const where = await backend.fresh();
    const a = await openRegistryAt(where);
    const b = await openRegistryAt(where);
    const t = new Date('2026-12-02T10:00:00Z');
    await a.claimDevice('esp32_123456', 'renewd@line1', 'renewal', 60_000, t);
    const err = await b.claimDevice('esp32_123456', 'rotate@bench2', 'rotation', 60_000, t).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'station.registry.device_busy' });
    expect((err as Error).message).toContain('claimed for renewal by renewd@line1 until 2026-12-02T10:01:00.000Z');
    // The holder renews its claim; after it expires another holder may take it.
    await a.claimDevice('esp32_123456', 'renewd@line1', 'renewal', 60_000, new Date(t.getTime() + 30_000));
    await expect(b.claimDevice('esp32_123456', 'rotate@bench2', 'rotation', 60_000, new Date(t.getTime() + 60_000))).rejects.toMatchObject({ code: 'station.registry.device_busy' });
    await b.claimDevice('esp32_123456', 'rotate@bench2', 'rotation', 60_000, new Date(t.getTime() + 91_000));
    expect(await a.deviceClaim('esp32_123456')).toMatchObject({ holder: 'rotate@bench2', purpose: 'rotation' });
    // Only the holder gives it back.
    await a.releaseDevice('esp32_123456', 'renewd@line1');
    expect(await a.deviceClaim('esp32_123456')).toMatchObject({ holder: 'rotate@bench2' });
    await b.releaseDevice('esp32_123456', 'rotate@bench2');
    expect(await a.deviceClaim('esp32_123456')).toBeUndefined();
    await a.close();
    await b.close();
  });

  it_('claims raced by two holders at once: exactly one wins', async () => {
    const where = await backend.fresh();
    const hs = await Promise.all([0, 1].map(() => openRegistryAt(where)));
    const results = await Promise.allSettled(hs.map((h, i) => h.claimDevice('esp32_123456', `holder${i}`, i === 0 ? 'renewal' : 'rotation', 60_000)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const h of hs) await h.close();
  });

  it_('a v1 registry is upgraded to the latest once, keeping its data', async () => {
    const where = await backend.fresh();
    const v1 = await openRegistryAt(where, { migrations: migrations.slice(0, 1) });
    expect(await v1.schemaVersion()).toBe(1);
    await v1.upsert(deviceRecord());
    await v1.close();

    const ran: number[] = [];
    const spied: Migration[] = migrations.map((m) => ({ ...m, up: (db) => (ran.push(m.version), m.up(db)) }));
    const v2 = await openRegistryAt(where, { migrations: spied });
    expect(ran).toEqual([2, 3, 4, 5, 6, 7]);
    expect(await v2.schemaVersion()).toBe(7);
    expect((await v2.appliedMigrations()).map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await v2.get('esp32_123456')).toEqual(deviceRecord());
    await v2.close();

    // Reopening runs nothing: each migration is applied once (v1 would fail a second time).
    const again = await openRegistryAt(where, { migrations: spied });
    expect(ran).toEqual([2, 3, 4, 5, 6, 7]);
    expect((await again.appliedMigrations()).map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await again.close();
  });

  it_('a new registry runs all migrations in version order even if listed out of order', async () => {
    const ran: number[] = [];
    const spied: Migration[] = [...migrations].reverse().map((m) => ({ ...m, up: (db) => (ran.push(m.version), m.up(db)) }));
    const reg = await openRegistryAt(await backend.fresh(), { migrations: spied });
    expect(ran).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await reg.close();
  });

  it_('a registry from a newer schema is refused and left unchanged', async () => {
    const where = await backend.fresh();
    const next: Migration = { version: LATEST_SCHEMA_VERSION + 1, description: 'future', up: (db) => db.run('CREATE TABLE future (x INTEGER)') };
    await (await openRegistryAt(where, { migrations: [...migrations, next] })).close();
    const err = await openRegistryAt(where).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ code: 'station.registry.newer_schema' });
    expect((err as Error).message).toContain(`has schema version ${LATEST_SCHEMA_VERSION + 1}, but this espfleet knows only up to ${LATEST_SCHEMA_VERSION}`);
    const future = await openRegistryAt(where, { migrations: [...migrations, next], readOnly: true });
    expect(await future.schemaVersion()).toBe(LATEST_SCHEMA_VERSION + 1);
    await future.close();
  });

  it_('a failing migration rolls back and names the migration', async () => {
    const where = await backend.fresh();
    const bad: Migration = { version: LATEST_SCHEMA_VERSION + 1, description: 'broken', up: async (db) => (await db.run('CREATE TABLE half (x INTEGER)'), db.run('CREATE TABLE devices (x INTEGER)')) };
    await expect(openRegistryAt(where, { migrations: [...migrations, bad] })).rejects.toMatchObject({
      code: 'station.registry.migration_failed',
      message: expect.stringContaining(`migration ${LATEST_SCHEMA_VERSION + 1} (broken) failed`),
    });
    // What the migration did before failing is gone, the ones before it are kept.
    const reg = await openRegistryAt(where);
    expect(await reg.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    await expect(reg.query('SELECT x FROM half')).rejects.toThrow(/half/);
    await reg.close();
  });
});

describe('SqliteRegistry (the file)', () => {
  it('the atomic write leaves no temp files behind', async () => {
    const path = tempPath();
    const reg = await openRegistry(path);
    await reg.upsert(deviceRecord());
    await reg.close();
    expect(readdirSync(join(path, '..'))).toEqual(['registry.sqlite']);
  });

  it('read-only open never creates a file and refuses writes', async () => {
    const path = tempPath();
    await expect(openRegistry(path, { readOnly: true })).rejects.toMatchObject({ code: 'station.registry.not_found' });
    expect(existsSync(path)).toBe(false);
    await (await openRegistry(path)).close();
    const ro = await openRegistry(path, { readOnly: true });
    await expect(ro.upsert(deviceRecord())).rejects.toMatchObject({ code: 'station.registry.read_only' });
    await ro.close();
  });
  it('a failed write leaves memory equal to the file', async () => {
    const path = tempPath();
    const reg = await openRegistry(path);
    await reg.upsert(deviceRecord());
    const bytes = readFileSync(path);
    // A non-empty directory where the file was: neither the re-read before the write nor the atomic rename can succeed, even for root.
    rmSync(path);
    mkdirSync(path);
    writeFileSync(join(path, 'x'), 'x');
    await expect(reg.upsert(deviceRecord({ status: 'revoked' }))).rejects.toMatchObject({ code: 'station.registry.unreadable' });
    await expect(reg.upsert(deviceRecord({ deviceId: 'esp32_000001', mac: '24:0a:c4:00:00:01' }))).rejects.toMatchObject({ code: 'station.registry.unreadable' });
    rmSync(path, { recursive: true });
    writeFileSync(path, bytes);
    expect(await reg.list()).toEqual([deviceRecord()]);
    expect(existsSync(`${path}.lock`)).toBe(false);
    await reg.close();
  });

  it('a file that is not SQLite is a clear error', async () => {
    const path = tempPath();
    writeFileSync(path, 'this is not a database, it is a text file that is long enough to have a header');
    await expect(openRegistry(path)).rejects.toMatchObject({ code: 'station.registry.corrupt' });
  });

  it('normalizeMac', () => {
    expect(normalizeMac('24:0A:C4:12:34:56')).toBe('24:0a:c4:12:34:56');
    expect(normalizeMac('240ac4123456')).toBe('24:0a:c4:12:34:56');
    expect(normalizeMac('24:0a:c4:12:34')).toBeUndefined();
  });
});

describe('registry migrations', () => {
  it('the code knows v1 to v7, in order', () => {
    expect(migrations.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(LATEST_SCHEMA_VERSION).toBe(7);
  });

});

const writer = fileURLToPath(new URL('./registry-writer.ts', import.meta.url));
const run = promisify(execFile);

describe('SqliteRegistry shared by several processes', () => {
  it('a live holder of the lock is waited for, then named; a dead one is a stale lock and broken', async () => {
    const path = tempPath();
    const reg = await openRegistry(path, { lockTimeoutMs: 300 });
    // A live process on this host: the test runner's parent.
    const live = { pid: process.ppid, host: hostname(), command: 'espfleet provision --station line1.toml', startedAt: '2026-12-01T08:00:00.000Z' };
    writeFileSync(`${path}.lock`, JSON.stringify(live));
    const err = await reg.upsert(deviceRecord()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'station.registry.locked' });
    expect((err as Error).message).toContain(`locked by pid ${process.ppid} on ${hostname()} (espfleet provision --station line1.toml) since 2026-12-01T08:00:00.000Z`);
    expect(await reg.list()).toEqual([]);
    // The same lock left by a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(`${path}.lock`, JSON.stringify({ ...live, pid: dead }));
    await reg.upsert(deviceRecord());
    expect(await reg.list()).toEqual([deviceRecord()]);
    expect(existsSync(`${path}.lock`)).toBe(false);
    await reg.close();
  });
});
