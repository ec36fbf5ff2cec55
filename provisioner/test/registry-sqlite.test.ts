// The SQLite device registry: round trip, durability across reopen, ordered once-only
// migrations, refusal of a newer schema, uniqueness of device id and MAC.
import { deviceRecord } from './device-record.ts';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile, spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { migrations, type Migration } from '../station/registry-migrations.ts';
import { LATEST_SCHEMA_VERSION, RegistryError, normalizeMac, openRegistry } from '../station/registry-sqlite.ts';

function tempPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'espfleet-registry-')), 'registry.sqlite');
}


describe('SqliteRegistry', () => {
  it('round-trips records and finds them by id and by MAC in any notation', async () => {
    const path = tempPath();
    const reg = await openRegistry(path);
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

  it('upsert replaces by device id and is on disk when it resolves (reopen)', async () => {
    const path = tempPath();
    const reg = await openRegistry(path);
    await reg.upsert(deviceRecord({ status: 'provisioning', firmwareVersion: null }));
    await reg.upsert(deviceRecord({ status: 'provisioned' }));
    // No close: every write is already durable.
    const again = await openRegistry(path, { readOnly: true });
    expect(await again.list()).toEqual([deviceRecord({ status: 'provisioned' })]);
    await again.close();
    await reg.close();
    // The atomic write leaves no temp files behind.
    expect(readdirSync(join(path, '..'))).toEqual(['registry.sqlite']);
  });

  it('refuses a second device id for the same MAC and malformed records', async () => {
    const reg = await openRegistry(tempPath());
    await reg.upsert(deviceRecord());
    await expect(reg.upsert(deviceRecord({ deviceId: 'other' }))).rejects.toMatchObject({ code: 'station.registry.conflict' });
    await expect(reg.upsert(deviceRecord({ deviceId: 'x', mac: '24:0A:C4:00:00:01' }))).rejects.toMatchObject({ code: 'station.registry.bad_record' });
    await expect(reg.upsert(deviceRecord({ status: 'done' as never }))).rejects.toThrow(/status must be one of/);
    await reg.close();
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
  it('the code knows v1 to v6, in order', () => {
    expect(migrations.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(LATEST_SCHEMA_VERSION).toBe(6);
  });

  it('a v1 file is upgraded to the latest once, keeping its data', async () => {
    const path = tempPath();
    const v1 = await openRegistry(path, { migrations: migrations.slice(0, 1) });
    expect(v1.schemaVersion()).toBe(1);
    await v1.upsert(deviceRecord());
    await v1.close();

    const ran: number[] = [];
    const spied: Migration[] = migrations.map((m) => ({ ...m, up: (db) => (ran.push(m.version), m.up(db)) }));
    const v2 = await openRegistry(path, { migrations: spied });
    expect(ran).toEqual([2, 3, 4, 5, 6]);
    expect(v2.schemaVersion()).toBe(6);
    expect(v2.appliedMigrations().map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await v2.get('esp32_123456')).toEqual(deviceRecord());
    await v2.close();

    // Reopening runs nothing: each migration is applied once (v1 would fail a second time).
    const again = await openRegistry(path, { migrations: spied });
    expect(ran).toEqual([2, 3, 4, 5, 6]);
    expect(again.appliedMigrations().map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6]);
    await again.close();
  });

  it('a new file runs all migrations in version order even if listed out of order', async () => {
    const ran: number[] = [];
    const spied: Migration[] = [...migrations].reverse().map((m) => ({ ...m, up: (db) => (ran.push(m.version), m.up(db)) }));
    const reg = await openRegistry(tempPath(), { migrations: spied });
    expect(ran).toEqual([1, 2, 3, 4, 5, 6]);
    await reg.close();
  });

  it('a file from a newer schema is refused and left unchanged', async () => {
    const path = tempPath();
    const next: Migration = { version: LATEST_SCHEMA_VERSION + 1, description: 'future', up: (db) => db.run('CREATE TABLE future (x INTEGER)') };
    await (await openRegistry(path, { migrations: [...migrations, next] })).close();
    const before = readdirSync(join(path, '..'));
    const err = await openRegistry(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ code: 'station.registry.newer_schema' });
    expect((err as Error).message).toContain(`has schema version ${LATEST_SCHEMA_VERSION + 1}, but this espfleet knows only up to ${LATEST_SCHEMA_VERSION}`);
    expect(readdirSync(join(path, '..'))).toEqual(before);
  });

  it('a failing migration rolls back and names the migration', async () => {
    const bad: Migration = { version: LATEST_SCHEMA_VERSION + 1, description: 'broken', up: (db) => db.run('CREATE TABLE devices (x)') };
    await expect(openRegistry(tempPath(), { migrations: [...migrations, bad] })).rejects.toMatchObject({
      code: 'station.registry.migration_failed',
      message: expect.stringContaining(`migration ${LATEST_SCHEMA_VERSION + 1} (broken) failed`),
    });
  });
});

const writer = fileURLToPath(new URL('./registry-writer.ts', import.meta.url));
const run = promisify(execFile);

describe('SqliteRegistry shared by several processes', () => {
  it('two processes writing records at once lose none (each write holds the lock and merges)', { timeout: 60_000 }, async () => {
    const path = tempPath();
    await (await openRegistry(path)).close();
    const count = 40;
    const start = String(Date.now() + 1500);
    const outs = await Promise.all([1, 2].map((tag) => run(process.execPath, ['--import', 'tsx', writer, path, String(tag), String(count), start], { timeout: 50_000 })));
    expect(outs.map((o) => o.stdout.trim())).toEqual([`wrote ${count}`, `wrote ${count}`]);
    const reg = await openRegistry(path, { readOnly: true });
    const records = await reg.list();
    expect(records).toHaveLength(2 * count);
    expect(new Set(records.map((r) => r.mac)).size).toBe(2 * count);
    await reg.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('an open registry sees records another process wrote, and keeps them when it writes', async () => {
    const path = tempPath();
    const a = await openRegistry(path);
    const b = await openRegistry(path);
    await a.upsert(deviceRecord());
    expect(await b.get('esp32_123456')).toEqual(deviceRecord());
    await b.upsert(deviceRecord({ deviceId: 'esp32_ABCDEF', mac: '24:0a:c4:ab:cd:ef' }));
    expect((await a.list()).map((r) => r.deviceId)).toEqual(['esp32_123456', 'esp32_ABCDEF']);
    await expect(b.upsert(deviceRecord({ deviceId: 'esp32_OTHER' }))).rejects.toMatchObject({ code: 'station.registry.conflict' });
    await a.close();
    await b.close();
  });

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
