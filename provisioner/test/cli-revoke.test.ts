// `espfleet ca revoke` on a station: the revocation is an audit entry and the device's
// registry record turns revoked (`devices list --status revoked`); a broken audit log
// refuses the revocation before the CA changes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../station/audit-log.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';
import { deviceRecord } from './device-record.ts';

const env = { ESPFLEET_CA_PASSPHRASE: `revoke-${Date.now()}-${Math.random().toString(36).slice(2)}` };
let root: string;
let caDir: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'espfleet-cli-revoke-'));
  caDir = join(root, 'ca');
  const r = await espfleet(['ca', 'init', '--ca-dir', caDir], { env });
  expect(r.code, r.stderr).toBe(0);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A station directory whose registry holds one provisioned device with a certificate from the CA. */
async function station(): Promise<{ dir: string; toml: string; serial: string; deviceId: string }> {
  const dir = mkdtempSync(join(root, 'station-'));
  const toml = join(dir, 'station.toml');
  writeFileSync(toml, '[station]\nid = "line1"\noperator = "alice"\n[paths]\nregistry = "registry.sqlite"\naudit = "audit.jsonl"\n');
  const deviceId = `esp32_0A1B${String(++n).padStart(2, '0')}`;
  const issued = await espfleet(['ca', 'issue', '--ca-dir', caDir, '--cn', deviceId, '--out-cert', join(dir, 'd.pem'), '--out-key', join(dir, 'd.key'), '--json'], { env });
  expect(issued.code, issued.stderr).toBe(0);
  const serial = JSON.parse(issued.stdout).serial as string;
  const registry = await openRegistry(join(dir, 'registry.sqlite'));
  await registry.upsert(deviceRecord({ deviceId, mac: `24:0a:c4:0a:1b:${String(n).padStart(2, '0')}`, certSerial: serial }));
  const audit = await openAuditLog(join(dir, 'audit.jsonl'), { anchor: registry });
  await audit.append({ action: 'provision.done', actor: 'alice', subject: { deviceId } });
  await registry.close();
  return { dir, toml, serial, deviceId };
}

describe('espfleet ca revoke on a station', () => {
  it('records the revocation: an audit entry, the device revoked in the registry, the chain intact', async () => {
    const st = await station();
    const r = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', st.serial, '--reason', 'keyCompromise', '--station', st.toml], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `revoked ${st.serial} (device ${st.deviceId}, keyCompromise)\naudit: entry 1 in ${join(st.dir, 'audit.jsonl')}\nregistry: ${st.deviceId} is now revoked (${join(st.dir, 'registry.sqlite')})\n`,
    );
    const revoked = await espfleet(['devices', 'list', '--station', st.toml, '--status', 'revoked', '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual([expect.objectContaining({ deviceId: st.deviceId, status: 'revoked', reason: expect.stringContaining(`certificate ${st.serial} revoked (keyCompromise)`) })]);
    const lines = readFileSync(join(st.dir, 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines[1]).toMatchObject({ seq: 1, action: 'certificate.revoke', subject: { serial: st.serial, cn: st.deviceId, deviceId: st.deviceId }, details: { reason: 'keyCompromise', station: 'line1' } });
    const verify = await espfleet(['audit', 'verify', '--station', st.toml]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/^audit log intact: 2 entries .*matches the anchor/);
  });

  it('finds the station through ./station.toml and $ESPFLEET_STATION; a certificate the device no longer holds is audited, the record left alone', async () => {
    const st = await station();
    const other = await espfleet(['ca', 'issue', '--ca-dir', caDir, '--cn', st.deviceId, '--out-cert', join(st.dir, 'o.pem'), '--out-key', join(st.dir, 'o.key'), '--json'], { env });
    const oldSerial = JSON.parse(other.stdout).serial as string;
    const r = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', oldSerial, '--reason', 'superseded', '--json'], { env, cwd: st.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ serial: oldSerial, recorded: { audit: { seq: 1 }, registry: { unchanged: `${st.deviceId} holds certificate ${st.serial}, not ${oldSerial}` } } });
    expect(JSON.parse((await espfleet(['devices', 'list', '--status', 'revoked', '--json'], { cwd: st.dir })).stdout)).toEqual([]);
    const viaEnv = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', st.serial], { env: { ...env, ESPFLEET_STATION: st.toml } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(JSON.parse((await espfleet(['devices', 'list', '--status', 'revoked', '--json'], { cwd: st.dir })).stdout)).toHaveLength(1);
  });

  it('a broken audit log refuses the revocation before the CA changes', async () => {
    const st = await station();
    const log = join(st.dir, 'audit.jsonl');
    writeFileSync(log, readFileSync(log, 'utf8').replace('"alice"', '"mallory"'));
    const r = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', st.serial, '--station', st.toml], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[station\.audit\.corrupt\]/);
    const listed = JSON.parse((await espfleet(['ca', 'list', '--ca-dir', caDir, '--json'])).stdout) as Array<{ serialHex: string; status: string }>;
    expect(listed.find((c) => c.serialHex === st.serial)?.status).toBe('valid');
  });

  it('without a station it says the revocation was not recorded', async () => {
    const st = await station();
    const r = await espfleet(['ca', 'revoke', '--ca-dir', caDir, '--serial', st.serial], { env, cwd: root });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/not recorded in a station audit log or registry: no station config/);
  });
});
