// `espfleet backup` and escrow copies end to end (issue 21): a station provisions four
// virtual boards in release mode with a keystore mirror on "another disk" (both copies hold
// every key, `keystore verify` says so); its backup verifies and restores onto a fresh
// directory whose `audit verify`, `devices list` and `keystore export` work; a flipped byte,
// a truncated file and a wrong passphrase are refused and restore nothing; the archive holds
// no private key or keystore secret in clear; release mode without a mirror burns nothing.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystore, initCa, openKeystore } from '../../certs/index.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { Rfc2217Server, VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { espsecure, esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { espfleet } from './cli-harness.ts';
import { stationToml as station } from './station-toml.ts';

const root = mkdtempSync(join(tmpdir(), 'espfleet-cli-backup-'));
const dir = join(root, 'station');
const usb = join(root, 'usb');
const unregister: Array<() => void> = [];
afterAll(() => {
  for (const u of unregister) u();
  rmSync(root, { recursive: true, force: true });
});

function newBoard(name: string): { chip: VirtualEsp32; url: string } {
  const chip = new VirtualEsp32({ name: `${name}-${process.pid}` });
  chip.powerOn();
  unregister.push(registerSimBoard(chip.options.name, chip));
  return { chip, url: `sim://${chip.options.name}` };
}

const show = (r: { stdout: string; stderr: string }) => void (process.env.SHOW && console.log(r.stderr + r.stdout));
const BACKUP_PASS = randomBytes(18).toString('base64');
const env = { ESPFLEET_BACKUP_PASSPHRASE: BACKUP_PASS };
const keyFile = join(root, 'secrets', 'keystore.key');
const caPass = join(root, 'secrets', 'ca.pass');

function stationToml(ports: string[], mirrors: string[]): string {
  return station({ id: 'backup-line', caPassFile: caPass, keyFile, mirrors, mode: 'release', ports });
}

const boards = ['a', 'b', 'c', 'd'].map((n) => newBoard(`bak-${n}`));
const archive = join(root, 'line.efbak');
let caPassphrase = '';

beforeAll(async () => {
  mkdirSync(dir);
  mkdirSync(usb);
  mkdirSync(join(root, 'secrets'));
  caPassphrase = randomBytes(24).toString('base64');
  await initCa({ dir: join(dir, 'ca'), passphrase: caPassphrase });
  writeFileSync(caPass, `${caPassphrase}\n`, { mode: 0o600 });
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await createKeystore(join(dir, 'keys.json'), { keyFile });
  const signer = generateSigningKey();
  writeFileSync(join(dir, 'sign0.pub.pem'), signer.publicKeyPem);
  const demo = makeDemoFirmware({ version: '2.1.0', appSize: 0x18000 });
  writeFileSync(join(dir, 'fw.zip'), signBundle(demo.bundle, signer.privateKeyPem, 0));
  writeFileSync(join(dir, 'station.toml'), stationToml(boards.map((b) => b.url), [join(usb, 'keys.json')]));
}, 60_000);

describe('escrow copies on a station', () => {
  it('release mode without a mirror is refused before any board is touched', async () => {
    const lone = newBoard('bak-lone');
    writeFileSync(join(dir, 'lone.toml'), stationToml([lone.url], []));
    const r = await espfleet(['provision', '--station', join(dir, 'lone.toml')]);
    show(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('escrow.copies is 2 (the default in release mode) but only 1 store(s) are configured');
    expect(r.stderr).toContain('[station.escrow.too_few_stores]');
    expect(lone.chip.flashEncryptionEnabled()).toBe(false);
    expect(Array.from(lone.chip.efuse.hardwareBlockWords(1)).every((w) => w === 0)).toBe(true);
    rmSync(join(dir, 'lone.toml'));
  });

  it('provisions four boards in release mode; the mirror is created and holds every key (keystore verify)', { timeout: 120_000 }, async () => {
    const r = await espfleet(['provision', '--station', join(dir, 'station.toml')]);
    show(r);
    expect(r.code, r.stderr).toBe(0);
    for (const b of boards) expect(b.chip.flashEncryptionEnabled()).toBe(true);
    const primary = await openKeystore(join(dir, 'keys.json'), { keyFile });
    const mirror = await openKeystore(join(usb, 'keys.json'), { keyFile });
    expect(primary.list()).toHaveLength(4);
    for (const e of primary.list()) expect(mirror.get({ mac: e.mac }, e.kind).secret).toEqual(primary.get({ mac: e.mac }, e.kind).secret);

    const v = await espfleet(['keystore', 'verify', '--station', join(dir, 'station.toml'), '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, copiesRequired: 2, differences: [], stores: [{ ok: true, records: 4 }, { ok: true, records: 4 }] });
  });

  it('keystore verify names a copy that lacks a record and one that does not open', async () => {
    const stale = join(root, 'stale.json');
    await createKeystore(stale, { keyFile });
    const r = await espfleet(['keystore', 'verify', '--keystore', join(dir, 'keys.json'), '--mirror', stale, '--mirror', join(root, 'nowhere.json'), '--keystore-key-file', keyFile]);
    show(r);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`ok\\s+${stale}: 0 records`));
    expect(r.stdout).toMatch(/FAILED\s+.*nowhere\.json: .*\[certs\.keystore\.not_found\]/);
    expect(r.stdout.match(/^differs: flash-encryption-key of esp32_[0-9A-F]{6} .* missing from .*stale\.json$/gm)).toHaveLength(4);
    expect(r.stdout).toContain('the copies do NOT agree');
  });
});

describe('espfleet backup', () => {
  it('create → verify → restore onto a fresh directory; the restored station audits, lists and exports', { timeout: 120_000 }, async () => {
    const c = await espfleet(['backup', 'create', '--station', join(dir, 'station.toml'), '--out', archive, '--json'], { env });
    show(c);
    expect(c.code, c.stderr).toBe(0);
    const created = JSON.parse(c.stdout);
    expect(created.counts).toMatchObject({ devices: 4, keystoreRecords: 4, certificates: 4 });
    expect(Object.keys(created.secretsNotIncluded).sort()).toEqual(['ca.passphrase_file', 'keystore.key_file']);
    const log = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trimEnd().split('\n');
    expect(JSON.parse(log.at(-1) as string)).toMatchObject({ action: 'backup.create', subject: { backup: created.id } });

    const v = await espfleet(['backup', 'verify', archive], { env });
    show(v);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`backup ${created.id} is sound: station backup-line`);
    expect(v.stdout).toContain(`4 devices, ${log.length} audit entries (chain intact, matches the registry anchor), 4 certificates, 4 escrowed keys`);

    // A fresh machine: the station directory and the mirror are gone.
    const to = join(root, 'restored', 'line1');
    rmSync(dir, { recursive: true });
    rmSync(usb, { recursive: true });
    const r = await espfleet(['backup', 'restore', archive, '--to', to, '--json'], { env });
    show(r);
    expect(r.code, r.stderr).toBe(0);
    const restored = JSON.parse(r.stdout);
    expect(restored).toMatchObject({ id: created.id, auditSeq: log.length, rewritten: { 'keystore.mirrors[0]': 'external/keystore-mirror-1/keys.json' } });
    expect(restored.provide).toEqual([
      { key: 'ca.passphrase_file', path: caPass, present: true },
      { key: 'keystore.key_file', path: keyFile, present: true },
    ]);
    expect(existsSync(join(to, 'external/keystore-mirror-1/keys.json'))).toBe(true);
    expect(readdirSync(join(root, 'restored'))).toEqual(['line1']);

    const station = join(to, 'station.toml');
    const audit = await espfleet(['audit', 'verify', '--station', station]);
    expect(audit.code, audit.stdout).toBe(0);
    expect(audit.stdout).toContain(`audit log intact: ${log.length + 1} entries`);
    const entries = readFileSync(join(to, 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(entries.slice(-2).map((e) => [e.action, e.subject.backup])).toEqual([['backup.create', created.id], ['backup.restore', created.id]]);
    const list = await espfleet(['devices', 'list', '--station', station, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const devices = JSON.parse(list.stdout) as Array<{ mac: string; status: string }>;
    expect(devices).toHaveLength(4);
    const out = join(root, 'fe-key.bin');
    const exp = await espfleet(['keystore', 'export', '--keystore', join(to, 'keys.json'), '--key-file', keyFile, '--mac', (devices[0] as { mac: string }).mac, '--out', out]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(readFileSync(out)).toHaveLength(32);
    const kv = await espfleet(['keystore', 'verify', '--station', station]);
    expect(kv.code, kv.stdout).toBe(0);
    // The restored station opens as the station does: a second restore target is refused (not empty).
    const again = await espfleet(['backup', 'restore', archive, '--to', to], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[backup.target_not_empty]');
  });

  it('the archive holds no private key or keystore secret in clear', async () => {
    const bytes = readFileSync(archive);
    const text = bytes.toString('latin1');
    expect(text).not.toMatch(/-----BEGIN/);
    expect(text).not.toContain('espfleet-keystore');
    expect(text).not.toContain(caPassphrase);
    const to = join(root, 'restored', 'line1');
    const ks = await openKeystore(join(to, 'keys.json'), { keyFile });
    for (const e of ks.list()) {
      const secret = Buffer.from(ks.get({ mac: e.mac }, e.kind).secret);
      expect(bytes.includes(secret)).toBe(false);
      expect(text.includes(secret.toString('hex'))).toBe(false);
      expect(text.includes(secret.toString('base64'))).toBe(false);
    }
    expect(bytes.includes(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex'))).toBe(false);
  });

  it('a board is reflashed with the restored keystore: esptool read-flash + espsecure and its boot check agree on the new app', { timeout: 300_000 }, async () => {
    const to = join(root, 'restored', 'line1');
    const board = boards[0]!;
    const next = makeDemoFirmware({ version: '2.2.0', appSize: 0x18000, seed: 22 });
    const appPath = join(root, 'app-2.2.0.bin');
    writeFileSync(appPath, next.parts.app);
    const ks = ['--keystore', join(to, 'keys.json'), '--keystore-key-file', keyFile];
    // Plaintext to an encrypted board is refused; the restored escrow makes the write possible.
    const plain = await espfleet(['flash', '--port', board.url, '0x10000', appPath]);
    expect(plain.code).toBe(1);
    const flash = await espfleet(['flash', '--port', board.url, '0x10000', appPath, '--encrypt-with-escrow', ...ks, '--json']);
    show(flash);
    expect(flash.code, flash.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(board.chip.bootLog()).toContain('flash encryption is enabled');
    expect(board.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 2.2.0");

    // Espressif's tools read the chip independently: ciphertext on flash that the key
    // exported from the *restored* keystore decrypts to exactly the new app image.
    const mac = Array.from(board.chip.options.mac, (b) => b.toString(16).padStart(2, '0')).join(':');
    const keyPath = join(root, 'restored-fe.key');
    const exp = await espfleet(['keystore', 'export', ...ks, '--mac', mac, '--out', keyPath]);
    expect(exp.code, exp.stderr).toBe(0);
    const server = new Rfc2217Server(board.chip);
    try {
      const url = await server.listen();
      const enc = join(root, 'app.enc');
      const size = `0x${next.parts.app.length.toString(16)}`;
      expectOk(await esptool(['--port', url, '--chip', 'esp32', '--baud', '921600', 'read-flash', '0x10000', size, enc], { timeoutMs: 240_000 }), 'esptool read-flash');
      const out = join(root, 'app.dec');
      expectOk(await espsecure(['decrypt-flash-data', '--keyfile', keyPath, '--address', '0x10000', '--output', out, enc]), 'espsecure decrypt-flash-data');
      expect(Buffer.from(readFileSync(enc)).equals(Buffer.from(next.parts.app))).toBe(false);
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(next.parts.app))).toBe(true);
    } finally {
      await server.close();
    }
    const audit = await espfleet(['audit', 'verify', '--station', join(to, 'station.toml')]);
    expect(audit.code, audit.stdout).toBe(0);
  });

  it('a flipped byte anywhere or a truncated archive fails verify and restore, and writes nothing', { timeout: 120_000 }, async () => {
    const good = readFileSync(archive);
    const cases: Array<[string, Buffer]> = [];
    for (const at of [3, 30, 120, Math.floor(good.length / 2), good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at] = (bad[at] as number) ^ 0x01;
      cases.push([`byte ${at} flipped`, bad]);
    }
    cases.push(['truncated by half', good.subarray(0, Math.floor(good.length / 2))]);
    cases.push(['last byte cut', good.subarray(0, good.length - 1)]);
    cases.push(['header cut', good.subarray(0, 40)]);
    for (const [what, bytes] of cases) {
      const file = join(root, 'bad.efbak');
      writeFileSync(file, bytes);
      const v = await espfleet(['backup', 'verify', file], { env });
      expect(v.code, what).toBe(1);
      expect(v.stderr, what).toMatch(/^error: .*(damaged or was altered|not an espfleet backup).*\[backup\.(damaged|not_a_backup)\]$/m);
      const to = join(root, 'never');
      const r = await espfleet(['backup', 'restore', file, '--to', to], { env });
      expect(r.code, what).toBe(1);
      expect(existsSync(to), what).toBe(false);
      expect(readdirSync(root).filter((n) => n.startsWith('.never')), what).toEqual([]);
    }
  });

  it('a wrong passphrase is refused clearly, before anything is written', async () => {
    const v = await espfleet(['backup', 'verify', archive], { env: { ESPFLEET_BACKUP_PASSPHRASE: 'not the one' } });
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`error: wrong passphrase for the backup ${archive} [backup.bad_passphrase]`);
    const to = join(root, 'never');
    const r = await espfleet(['backup', 'restore', archive, '--to', to], { env: { ESPFLEET_BACKUP_PASSPHRASE: 'not the one' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[backup.bad_passphrase]');
    expect(existsSync(to)).toBe(false);
    const none = await espfleet(['backup', 'verify', archive]);
    expect(none.stderr).toContain('[secret.missing]');
  });

  it('--help of every backup command explains and gives examples', async () => {
    const top = await espfleet(['--help']);
    expect(top.stdout).toMatch(/\n\s+backup\s+back up a station/);
    for (const sub of ['create', 'verify', 'restore']) {
      const h = await espfleet(['backup', sub, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('Examples:');
      expect(h.stdout).toContain('--passphrase-file');
      expect(h.stdout).toContain('--json');
    }
    const kv = await espfleet(['keystore', 'verify', '--help']);
    expect(kv.stdout).toContain('Examples:');
  });
});
