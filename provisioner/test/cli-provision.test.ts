// `espfleet provision` end to end on in-process virtual boards: a station.toml with a real
// CA, keystore and signed bundle provisions four boards in development encryption mode
// (registry, `devices list`, `audit verify` agree); a wrong passphrase, a bad TOML key and
// a missing port each stop with one error line before any board is touched; and no file
// the station wrote holds a private key in clear.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';
import { stationToml as station } from './station-toml.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-provision-'));
const unregister: Array<() => void> = [];
afterAll(() => {
  for (const u of unregister) u();
  rmSync(dir, { recursive: true, force: true });
});

function newBoard(name: string): { chip: VirtualEsp32; url: string } {
  const chip = new VirtualEsp32({ name: `${name}-${process.pid}` });
  chip.powerOn();
  unregister.push(registerSimBoard(chip.options.name, chip));
  return { chip, url: `sim://${chip.options.name}` };
}

/** Nothing burned, nothing written: BLK1 blank, encryption off, flash still erased at the app. */
function untouched(chip: VirtualEsp32): void {
  expect(chip.flashEncryptionEnabled()).toBe(false);
  expect(Array.from(chip.efuse.hardwareBlockWords(1)).every((w) => w === 0)).toBe(true);
  expect(chip.flash.bytes.subarray(0x1000, 0x9000).every((b) => b === 0xff)).toBe(true);
}

/** Set SHOW=1 to see what a user sees. */
const show = (r: { stdout: string; stderr: string }) => void (process.env.SHOW && console.log(r.stderr + r.stdout));

const auditPath = () => join(dir, 'audit.jsonl');
const auditBytes = () => {
  try {
    return readFileSync(auditPath(), 'utf8');
  } catch {
    return '';
  }
};

function stationToml(over: { caPassFile?: string; ports?: string[]; extra?: string } = {}): string {
  return station({ ...over, ports: over.ports ?? [] });
}

const boards = ['a', 'b', 'c', 'd'].map((n) => newBoard(`prov-${n}`));

beforeAll(async () => {
  const passphrase = randomBytes(24).toString('base64');
  await initCa({ dir: join(dir, 'ca'), passphrase });
  writeFileSync(join(dir, 'ca.pass'), `${passphrase}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'wrong.pass'), 'not-the-ca-passphrase\n', { mode: 0o600 });
  writeFileSync(join(dir, 'keystore.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await createKeystore(join(dir, 'keys.json'), { keyFile: join(dir, 'keystore.key') });
  const signer = generateSigningKey();
  // Only the public half is kept: the private key stays in this process.
  writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
  const demo = makeDemoFirmware({ version: '2.1.0', appSize: 0x18000 });
  writeFileSync(join(dir, 'fw.zip'), signBundle(demo.bundle, signer.privateKeyPem, 0));
  writeFileSync(join(dir, 'station.toml'), stationToml({ ports: boards.map((b) => b.url) }));
}, 60_000);

describe('espfleet provision', () => {
  it('provisions four boards from station.toml: registry, devices list and audit verify agree', async () => {
    const t0 = Date.now();
    const r = await espfleet(['provision', '--station', join(dir, 'station.toml')]);
    const seconds = (Date.now() - t0) / 1000;
    show(r);
    expect(r.code, r.stderr).toBe(0);
    // Progress: "[port] step…" lines for every port, on stderr.
    const progress = r.stderr.trimEnd().split('\n');
    for (const b of boards) {
      const mine = progress.filter((l) => l.startsWith(`[${b.url}] `));
      expect(mine.some((l) => /identify: ESP32/.test(l))).toBe(true);
      expect(mine.some((l) => /boot: .*Loaded app from partition at offset 0x10000/.test(l))).toBe(true);
      expect(mine.at(-1)).toMatch(/done: esp32_[0-9A-F]{6} provisioned/);
    }
    // Summary on stdout: header, one row per board, a count.
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PORT\s+DEVICE ID\s+MAC\s+RESULT\s+TIME\s+REASON$/);
    expect(lines).toHaveLength(6);
    for (const [i, b] of boards.entries()) {
      expect(lines[i + 1]).toMatch(new RegExp(`^${b.url}\\s+esp32_[0-9A-F]{6}\\s+([0-9a-f]{2}:){5}[0-9a-f]{2}\\s+provisioned\\s+\\d+\\.\\ds$`));
    }
    expect(lines[5]).toBe('4 provisioned, 0 failed');
    console.log(`4 boards provisioned in ${seconds.toFixed(1)} s`);

    for (const b of boards) expect(b.chip.flashEncryptionEnabled()).toBe(true);
    const registry = await openRegistry(join(dir, 'registry.sqlite'), { readOnly: true });
    const records = await registry.list();
    await registry.close();
    expect(records).toHaveLength(4);
    for (const rec of records) {
      expect(rec).toMatchObject({ status: 'provisioned', firmwareVersion: '2.1.0', encryptionMode: 'development', station: 'test-line', operator: 'tester', reason: null });
    }

    const list = await espfleet(['devices', 'list', '--station', join(dir, 'station.toml')]);
    expect(list.code).toBe(0);
    for (const rec of records) expect(list.stdout).toMatch(new RegExp(`${rec.deviceId}\\s+${rec.mac}\\s+provisioned`));
    const verify = await espfleet(['audit', 'verify', '--station', join(dir, 'station.toml')]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/^audit log intact: \d+ entries/);
  }, 120_000);

  it('a second run without --reprovision refuses the provisioned boards (exit 1, JSON names the reason)', async () => {
    const before = boards.map((b) => Array.from(b.chip.efuse.hardwareBlockWords(1)));
    const r = await espfleet(['provision', '--station', join(dir, 'station.toml'), '--port', boards[0]!.url, '--json']);
    show(r);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as Array<{ port: string; result: string; reason: string | null; error: { code: string } | null }>;
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ port: boards[0]!.url, result: 'failed' });
    expect(out[0]!.error?.code).toBe('station.already_provisioned');
    expect(out[0]!.reason).toMatch(/^station\.already_provisioned: .*nothing was changed/);
    expect(boards.map((b) => Array.from(b.chip.efuse.hardwareBlockWords(1)))).toEqual(before);
  }, 60_000);

  it('--reprovision gives one board a new certificate; the registry records it', async () => {
    const registryPath = join(dir, 'registry.sqlite');
    const read = async () => {
      const reg = await openRegistry(registryPath, { readOnly: true });
      const all = await reg.list();
      await reg.close();
      return all;
    };
    const before = await read();
    const r = await espfleet(['provision', '--station', join(dir, 'station.toml'), '--port', boards[1]!.url, '--reprovision', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [row] = JSON.parse(r.stdout) as Array<{ deviceId: string; result: string; record: { certSerial: string } }>;
    expect(row?.result).toBe('provisioned');
    const after = await read();
    expect(after).toHaveLength(4);
    const old = before.find((x) => x.deviceId === row?.deviceId);
    const now = after.find((x) => x.deviceId === row?.deviceId);
    expect(now?.status).toBe('provisioned');
    expect(now?.certSerial).toBe(row?.record.certSerial);
    expect(now?.certSerial).not.toBe(old?.certSerial);
  }, 60_000);

  it('a wrong CA passphrase: one error line, exit 1, no board touched, nothing logged', async () => {
    const fresh = newBoard('prov-pass');
    writeFileSync(join(dir, 'wrong-pass.toml'), stationToml({ caPassFile: 'wrong.pass', ports: [fresh.url] }));
    const audit = auditBytes();
    const r = await espfleet(['provision', '--station', join(dir, 'wrong-pass.toml')]);
    show(r);
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/wrong passphrase for the CA key.*no board was touched \[certs\.ca\.bad_passphrase\]/);
    expect(r.stderr).not.toMatch(/^\[/m);
    expect(r.stdout).toBe('');
    untouched(fresh.chip);
    expect(auditBytes()).toBe(audit);
  });

  it('a bad TOML key: one line naming the key path, exit 1, nothing touched', async () => {
    const fresh = newBoard('prov-toml');
    writeFileSync(join(dir, 'bad.toml'), stationToml({ ports: [fresh.url] }).replace('mode = "development"', 'mode = "developmnet"'));
    const audit = auditBytes();
    const r = await espfleet(['provision', '--station', join(dir, 'bad.toml')]);
    show(r);
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/bad\.toml: encryption\.mode: .*developmnet.*\[station\.config\.bad_value\]/);
    untouched(fresh.chip);
    expect(auditBytes()).toBe(audit);

    writeFileSync(join(dir, 'typo.toml'), stationToml({ ports: [fresh.url], extra: '[serial]\nbaud_rate = 115200\n' }));
    const typo = await espfleet(['provision', '--station', join(dir, 'typo.toml')]);
    expect(typo.code).toBe(1);
    expect(typo.stderr.split('\n').filter((l) => l.startsWith('error:'))[0]).toMatch(/serial\.baud_rate/);
    untouched(fresh.chip);
  });

  it('a missing port: one error line naming it, exit 1, the other ports untouched', async () => {
    const fresh = newBoard('prov-port');
    const audit = auditBytes();
    for (const missing of ['sim://no-such-board', join(dir, 'ttyUSB-missing')]) {
      const r = await espfleet(['provision', '--station', join(dir, 'station.toml'), '--port', fresh.url, '--port', missing]);
      show(r);
      expect(r.code).toBe(1);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(missing.replace(/^sim:\/\//, ''));
      untouched(fresh.chip);
    }
    expect(auditBytes()).toBe(audit);
    const none = await espfleet(['provision', '--station', join(dir, 'wrong-pass.toml'), '--port', 'sim://no-such-board']);
    expect(none.code).toBe(1);
  });

  it('no ports, or --watch with --port: one usage line, exit 1', async () => {
    writeFileSync(join(dir, 'no-ports.toml'), stationToml({ ports: [] }));
    const none = await espfleet(['provision', '--station', join(dir, 'no-ports.toml')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: no ports to provision: give --port <url> or set ports\.urls/m);
    const both = await espfleet(['provision', '--station', join(dir, 'station.toml'), '--watch', '--port', boards[0]!.url]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/^error: give --watch or --port, not both/m);
  });

  it('--help explains the sources and gives examples', async () => {
    const r = await espfleet(['provision', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--station <station\.toml>/);
    expect(r.stdout).toMatch(/--port <url>/);
    expect(r.stdout).toMatch(/--reprovision/);
    expect(r.stdout).toMatch(/Examples:\n\s+espfleet provision --station/);
    const top = await espfleet(['--help']);
    expect(top.stdout).toMatch(/\n\s+provision\s+provision boards: identity/);
  });

  it('no file under the station directory holds an unencrypted private key', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(dir);
    expect(files.length).toBeGreaterThan(8);
    expect(files.some((f) => f.includes(`${join(dir, 'journal')}`))).toBe(true);
    for (const f of files) {
      const text = readFileSync(f).toString('latin1');
      expect(text, f).not.toMatch(/BEGIN PRIVATE KEY|BEGIN EC PRIVATE KEY|BEGIN RSA PRIVATE KEY/);
      if (/PRIVATE KEY/.test(text)) expect(text, f).toMatch(/BEGIN ENCRYPTED PRIVATE KEY/);
    }
  });
});
