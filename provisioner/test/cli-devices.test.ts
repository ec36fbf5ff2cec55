// `espfleet devices list|show`: the registry found via --registry, --station, the env or
// ./station.toml; table and JSON output; clear errors.
import { deviceRecord } from './device-record.ts';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';


const A = deviceRecord({});
const B = deviceRecord({
  deviceId: 'esp32_ABCDEF',
  mac: '24:0a:c4:ab:cd:ef',
  status: 'failed',
  reason: 'flash verify failed at 0x10000',
  certSerial: null,
  certFingerprintSha256: null,
  certNotAfter: null,
  firmwareVersion: null,
  encryptionMode: 'off',
  keystoreRef: null,
  updatedAt: '2026-11-23T10:07:00.000Z',
});

let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-devices-'));
  writeFileSync(join(dir, 'station.toml'), '[station]\nid = "line1"\noperator = "alice"\n[paths]\nregistry = "data/reg.sqlite"\n');
  mkdirSync(join(dir, 'data'));
  const reg = await openRegistry(join(dir, 'data/reg.sqlite'));
  await reg.upsert(A);
  await reg.upsert(B);
  await reg.close();
});

describe('espfleet devices list', () => {
  it('prints a table from --station', async () => {
    const r = await espfleet(['devices', 'list', '--station', join(dir, 'station.toml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^DEVICE ID\s+MAC\s+STATUS\s+FIRMWARE\s+ENCRYPTION\s+CERT EXPIRY\s+UPDATED$/);
    expect(lines[1]).toMatch(/^esp32_123456\s+24:0a:c4:12:34:56\s+provisioned\s+1\.4\.2\s+development\s+2027-11-23T00:00:00\.000Z\s+2026-11-23T10:05:00\.000Z$/);
    expect(lines[2]).toMatch(/^esp32_ABCDEF\s+24:0a:c4:ab:cd:ef\s+failed\s+-\s+off\s+-\s+2026-11-23T10:07:00\.000Z$/);
    // Columns line up.
    expect(lines[1]!.indexOf('24:0a')).toBe(lines[0]!.indexOf('MAC'));
    expect(lines[2]!.indexOf('failed')).toBe(lines[0]!.indexOf('STATUS'));
  });

  it('finds the station through ./station.toml (cwd) and $ESPFLEET_STATION', async () => {
    const viaCwd = await espfleet(['devices', 'list', '--json'], { cwd: dir });
    expect(JSON.parse(viaCwd.stdout)).toEqual([A, B]);
    const viaEnv = await espfleet(['devices', 'list', '--json'], { cwd: tmpdir(), env: { ESPFLEET_STATION: join(dir, 'station.toml') } });
    expect(JSON.parse(viaEnv.stdout)).toEqual([A, B]);
  });

  it('--registry with a relative path, --status filter, --json', async () => {
    const r = await espfleet(['devices', 'list', '--registry', 'data/reg.sqlite', '--status', 'failed', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([B]);
    const none = await espfleet(['devices', 'list', '--registry', 'data/reg.sqlite', '--status', 'revoked'], { cwd: dir });
    expect(none.stdout).toBe('no revoked devices\n');
  });

  it('errors: bad --status, no station, missing registry, bad station file', async () => {
    const bad = await espfleet(['devices', 'list', '--registry', 'x', '--status', 'done'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/expected one of provisioning, provisioned, failed, revoked, got "done"/);

    const none = await espfleet(['devices', 'list'], { cwd: tmpdir() });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: no station config: give --station <station.toml> or --registry <path> \[cli.bad_argument\]\nhint: /);

    const missing = await espfleet(['devices', 'list', '--registry', 'nope.sqlite'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no registry at .*nope\.sqlite \[station\.registry\.not_found\]/);

    const toml = join(dir, 'bad.toml');
    writeFileSync(toml, '[station]\nid = "x"\noperator = "a"\n[encryption]\nmode = "on"\n');
    const badToml = await espfleet(['devices', 'list', '--station', toml]);
    expect(badToml.code).toBe(1);
    expect(badToml.stderr).toContain(`error: ${toml}: encryption.mode: expected one of off, development, release, got "on" [station.config.bad_value]`);

    const both = await espfleet(['devices', 'list', '--registry', 'a', '--station', 'b'], { cwd: dir });
    expect(both.stderr).toMatch(/give --registry or --station, not both/);
  });

  it('--help has examples', async () => {
    const r = await espfleet(['devices', 'list', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--station <station.toml>/);
    expect(r.stdout).toMatch(/Examples:\n  espfleet devices list --station/);
  });
});

describe('espfleet devices show', () => {
  it('by device id, as text', async () => {
    const r = await espfleet(['devices', 'show', 'esp32_ABCDEF'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('device id:     esp32_ABCDEF\n');
    expect(r.stdout).toContain('status:        failed\n');
    expect(r.stdout).toContain('reason:        flash verify failed at 0x10000\n');
    expect(r.stdout).toContain('cert expiry:   -\n');
  });

  it('by MAC in any notation, as JSON', async () => {
    for (const mac of ['24:0a:c4:12:34:56', '240AC4123456', '24-0A-C4-12-34-56']) {
      const r = await espfleet(['devices', 'show', mac, '--json'], { cwd: dir });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(A);
    }
  });

  it('an unknown device is an error with a hint', async () => {
    const r = await espfleet(['devices', 'show', 'esp32_000000'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: no device "esp32_000000" in .*reg\.sqlite \[station\.registry\.no_device\]\nhint: run `espfleet devices list`/);
  });
});
