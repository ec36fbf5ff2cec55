// `espfleet encrypt-flash`, `flash --encrypt-with-escrow` and `keystore export` end to end on
// the virtual ESP32, checked by Espressif's own tools over RFC 2217: espefuse sees the key
// hidden and locked, the counter odd and FLASH_CRYPT_CONFIG 0xF (release: the download-mode
// disables and the counter locked); the board boots the app; esptool read-flash +
// espsecure decrypt-flash-data with the exported key give back the plaintext images.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { encryptFlash } from '../../firmware-js/flash-encryption/index.ts';
import { planFlash, type FlashRegion } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { espefuse, espsecure, esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { openKeystore } from '../../certs/index.ts';
import { keyToBlockWords } from '../encryption/index.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-encrypt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();

const demo = makeDemoFirmware({ version: '5.6.7', appSize: 0x18000 });
const bundlePath = join(dir, 'demo.zip');
writeFileSync(bundlePath, demo.bundle);
const plan: FlashRegion[] = planFlash(readBundle(demo.bundle));

let n = 0;
/** A keystore unlocked by a key file (made by `espfleet keystore init`). */
async function keyFileKeystore(): Promise<{ path: string; keyFile: string; args: string[] }> {
  const path = join(dir, `ks${++n}.json`);
  const keyFile = join(dir, `ks${n}.key`);
  const init = await espfleet(['keystore', 'init', '--keystore', path, '--keystore-key-file', keyFile]);
  expect(init.code, init.stderr).toBe(0);
  return { path, keyFile, args: ['--keystore', path, '--keystore-key-file', keyFile] };
}
const PASS = 'correct horse battery staple 42';
async function passphraseKeystore(): Promise<string> {
  const path = join(dir, `ks${++n}.json`);
  const init = await espfleet(['keystore', 'init', '--keystore', path], { env: { ESPFLEET_KEYSTORE_PASSPHRASE: PASS } });
  expect(init.code, init.stderr).toBe(0);
  return path;
}

/** The value part of one field in `espefuse summary` output. */
function fuseLine(summary: string, field: string): string {
  const lines = summary.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${field} (`));
  if (at < 0) throw new Error(`espefuse summary has no ${field}:\n${summary}`);
  return lines.slice(at, at + 3).join(' ');
}

function snapshot(b: TestBoard): string {
  return JSON.stringify(b.chip.efuse.fuses.map((w) => Array.from(w))) + Buffer.from(b.chip.flash.bytes).toString('base64');
}

const settle = () => new Promise((r) => setTimeout(r, 60));
/** The RFC 2217 server turns a new client away until the previous socket has closed (a busy tty). */
const portFree = () => new Promise((r) => setTimeout(r, 300));

describe('encrypt-flash + flash --encrypt-with-escrow, checked by espefuse, esptool and espsecure', () => {
  it('development over RFC 2217: key hidden and locked, counter odd, config 0xF; boots; exported key decrypts what esptool reads', { timeout: 300_000 }, async () => {
    const b = board({ name: `enc-dev-${process.pid}` });
    const url = await b.rfc2217();
    const ks = await keyFileKeystore();

    const dry = await espfleet(['encrypt-flash', '--port', url, '--mode', 'development', ...ks.args]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^dry run for esp32_[0-9A-F]{6} \([0-9a-f:]{17}\) on rfc2217:\/\/\S+, development mode:\n/);
    expect(dry.stdout).toContain('nothing was escrowed, burned or written; add --confirm');
    expect(b.chip.efuse.programCount).toBe(0);

    await portFree();
    const on = await espfleet(['encrypt-flash', '--port', url, '--mode', 'development', ...ks.args, '--confirm']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/^flash encryption on for esp32_[0-9A-F]{6} \([0-9a-f:]{17}\) in development mode: FLASH_CRYPT_CNT 0x1, key generated and escrowed/);
    expect(on.stdout).toContain('no bundle written: flash it with `espfleet flash --encrypt-with-escrow`');
    expect(on.stderr).toMatch(/^escrowing a new flash-encryption key/m);

    await portFree();
    const flash = await espfleet(['flash', '--port', url, bundlePath, '--encrypt-with-escrow', ...ks.args]);
    expect(flash.code, flash.stderr).toBe(0);
    expect(flash.stdout).toMatch(/^wrote \d+ sector\(s\), skipped \d+ unchanged, 6 region\(s\) verified by MD5/);
    await settle();
    expect(b.chip.bootLog()).toContain('flash encryption is enabled');
    expect(b.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 5.6.7");

    await portFree();
    const sum = expectOk(await espefuse(['--port', url, 'summary'], { timeoutMs: 170_000 }), 'espefuse summary');
    expect(fuseLine(sum, 'BLOCK1')).toMatch(/= (\?\? ){31}\?\? -\/-/);
    expect(fuseLine(sum, 'FLASH_CRYPT_CNT')).toMatch(/= 1 R\/W \(0b0000001\)/);
    expect(fuseLine(sum, 'FLASH_CRYPT_CONFIG')).toMatch(/= 15 R\/W \(0xf\)/);
    expect(fuseLine(sum, 'RD_DIS')).toMatch(/= 1 R\/W \(0x1\)/);
    expect(fuseLine(sum, 'WR_DIS')).toMatch(/= 128 R\/W \(0x0080\)/);

    const mac = JSON.parse((await espfleet(['keystore', 'list', '--keystore', ks.path, '--keystore-key-file', ks.keyFile, '--json'])).stdout)[0].mac as string;
    const keyPath = join(dir, 'dev-key.bin');
    const exp = await espfleet(['keystore', 'export', '--keystore', ks.path, '--keystore-key-file', ks.keyFile, '--mac', mac, '--out', keyPath]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(keyToBlockWords(new Uint8Array(readFileSync(keyPath))));

    // esptool reads raw flash (one read up to the end of the app); espsecure decrypts each
    // encrypted part with the exported key at its own address.
    const parts = plan.filter((r) => r.encrypt && r.part !== 'fs');
    const end = Math.max(...parts.map((r) => r.address + r.bytes.length));
    const rawAll = join(dir, 'raw-all.bin');
    await portFree();
    expectOk(await esptool(['--port', url, '--baud', '921600', 'read-flash', '0x0', `0x${end.toString(16)}`, rawAll], { timeoutMs: 170_000 }), 'esptool read-flash');
    const flashRead = new Uint8Array(readFileSync(rawAll));
    for (const region of parts) {
      const raw = join(dir, `raw-${region.part}.bin`);
      const plain = join(dir, `plain-${region.part}.bin`);
      const cipher = flashRead.subarray(region.address, region.address + region.bytes.length);
      expect(cipher, `${region.part} is ciphertext on flash`).not.toEqual(region.bytes);
      writeFileSync(raw, cipher);
      expectOk(await espsecure(['decrypt-flash-data', '--keyfile', keyPath, '--address', `0x${region.address.toString(16)}`, '--output', plain, raw]), 'espsecure decrypt-flash-data');
      expect(new Uint8Array(readFileSync(plain)), region.part).toEqual(region.bytes);
    }
  });

  it('release in-process with --bundle and a passphrase: espefuse over RFC 2217 shows the download-mode disables and the counter locked', { timeout: 300_000 }, async () => {
    const b = board({ name: `enc-rel-${process.pid}` });
    const ks = await passphraseKeystore();
    const env = { ESPFLEET_KEYSTORE_PASSPHRASE: PASS };
    const on = await espfleet(['encrypt-flash', '--port', b.simUrl, '--mode', 'release', '--keystore', ks, '--bundle', bundlePath, '--confirm', '--json'], { env });
    expect(on.code, on.stderr).toBe(0);
    const r = JSON.parse(on.stdout);
    expect(r).toMatchObject({ mode: 'release', dryRun: false, key: 'new', final: { enabled: true, releaseMode: true, flashCryptCnt: 0x7f, flashCryptConfig: 0xf } });
    await settle();
    expect(b.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 5.6.7");

    const url = await b.rfc2217();
    const sum = expectOk(await espefuse(['--port', url, 'summary'], { timeoutMs: 170_000 }), 'espefuse summary');
    expect(fuseLine(sum, 'FLASH_CRYPT_CNT')).toMatch(/= 127 R\/W \(0b1111111\)/);
    expect(fuseLine(sum, 'BLOCK1')).toMatch(/= (\?\? ){31}\?\? -\/-/);
    for (const f of ['DISABLE_DL_ENCRYPT', 'DISABLE_DL_DECRYPT', 'DISABLE_DL_CACHE', 'JTAG_DISABLE', 'CONSOLE_DEBUG_DISABLE']) expect(fuseLine(sum, f), f).toMatch(/= True /);
    expect(fuseLine(sum, 'WR_DIS')).toMatch(/= 136 R\/W \(0x0088\)/);

    // Our own summary agrees, and a second run is a no-op.
    const ours = await espfleet(['efuse', 'summary', '--port', b.simUrl]);
    expect(ours.stdout).toMatch(/flash encryption: on \(release mode\), FLASH_CRYPT_CNT 0b1111111, FLASH_CRYPT_CONFIG 0xf, key read- and write-protected/);
    const programs = b.chip.efuse.programCount;
    const again = await espfleet(['encrypt-flash', '--port', b.simUrl, '--mode', 'release', '--keystore', ks, '--bundle', bundlePath, '--confirm'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already has flash encryption on in release mode with the escrowed key: nothing burned, 6 region\(s\) verified \(0 sector\(s\) written\)/);
    expect(b.chip.efuse.programCount).toBe(programs);
  });
});

describe('interrupted over RFC 2217', () => {
  it('power lost right after the BLK1 burn: one clear error, the chip holds only the escrowed key, a re-run finishes', { timeout: 120_000 }, async () => {
    const b = board({ name: `enc-cut-${process.pid}` });
    const url = await b.rfc2217();
    const ks = await keyFileKeystore();
    const off = b.chip.onCommit((op) => {
      if (op !== 'EFUSE_PGM') return;
      off();
      b.chip.injectPowerLoss({ atCommand: 'WRITE_REG', occurrence: 1 }); // before the READ that follows the PGM
    });
    const first = await espfleet(['encrypt-flash', '--port', url, '--mode', 'development', ...ks.args, '--bundle', bundlePath, '--confirm']);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/\[session\.(no_response|port_vanished)\]\nhint: /);
    expect(b.chip.powerCuts).toEqual(['at WRITE_REG #1']);
    const onDisk = await openKeystore(ks.path, { keyFile: ks.keyFile });
    const mac = onDisk.list()[0]?.mac as string;
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(keyToBlockWords(onDisk.get({ mac }, 'flash-encryption-key').secret));
    expect(b.chip.flashEncryptionEnabled()).toBe(false);

    b.chip.powerOff();
    b.chip.powerOn();
    await portFree();
    const second = await espfleet(['encrypt-flash', '--port', url, '--mode', 'development', ...ks.args, '--bundle', bundlePath, '--confirm']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/key from the keystore, read- and write-protected/);
    await settle();
    expect(b.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 5.6.7");
    expect((await openKeystore(ks.path, { keyFile: ks.keyFile })).list()).toHaveLength(1);
  });
});

describe('refusals change nothing', () => {
  it('a wrong keystore passphrase, a board encrypted with an unknown key, and --encrypt-with-escrow without a keystore', { timeout: 60_000 }, async () => {
    const b = board();
    const ks = await passphraseKeystore();
    const before = snapshot(b);
    const wrong = await espfleet(['encrypt-flash', '--port', b.simUrl, '--mode', 'development', '--keystore', ks, '--bundle', bundlePath, '--confirm'], { env: { ESPFLEET_KEYSTORE_PASSPHRASE: 'not it' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: wrong passphrase for the keystore .* \[certs\.keystore\.bad_passphrase\]/);
    expect(snapshot(b)).toBe(before);
    expect(b.chip.resets).toBe(1); // the board was never even reset into the loader

    const foreign = new Uint8Array(randomBytes(32));
    const enc = board({ efuseFields: { FLASH_CRYPT_CNT: 1, FLASH_CRYPT_CONFIG: 0xf, RD_DIS: 1, WR_DIS: 0x80 }, efuseBlocks: [[], keyToBlockWords(foreign)] });
    for (const region of plan) enc.chip.flash.bytes.set(region.encrypt ? encryptFlash(region.bytes, region.address, foreign, 0xf) : region.bytes, region.address);
    const encBefore = snapshot(enc);
    const env = { ESPFLEET_KEYSTORE_PASSPHRASE: PASS };
    const unknown = await espfleet(['encrypt-flash', '--port', enc.simUrl, '--mode', 'release', '--keystore', ks, '--bundle', bundlePath, '--confirm'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/is read-protected \(a key is burned\) and .* has no key for this MAC; nothing was changed \[encryption\.unknown_key\]\nhint: /);
    const flashUnknown = await espfleet(['flash', '--port', enc.simUrl, bundlePath, '--encrypt-with-escrow', '--keystore', ks], { env });
    expect(flashUnknown.code).toBe(1);
    expect(flashUnknown.stderr).toMatch(/has no flash-encryption key for [0-9a-f:]{17}; nothing was written \[encryption\.unknown_key\]/);
    const noKs = await espfleet(['flash', '--port', enc.simUrl, bundlePath, '--encrypt-with-escrow']);
    expect(noKs.stderr).toMatch(/\[cli\.flash\.needs_keystore\]/);
    expect(snapshot(enc)).toBe(encBefore);

    // --encrypt-with-escrow on a board without encryption: refused, nothing written.
    const plainBoard = board();
    const plainBefore = snapshot(plainBoard);
    const off = await espfleet(['flash', '--port', plainBoard.simUrl, bundlePath, '--encrypt-with-escrow', '--keystore', ks], { env });
    expect(off.stderr).toMatch(/flash encryption is off on .* \[encryption\.not_enabled\]/);
    expect(snapshot(plainBoard)).toBe(plainBefore);
  });
});

describe('espfleet keystore export', () => {
  it('writes the key file 0600, logs every export first, never overwrites, and refuses an unknown MAC unlogged', { timeout: 60_000 }, async () => {
    const b = board();
    const ks = await keyFileKeystore();
    expect((await espfleet(['encrypt-flash', '--port', b.simUrl, '--mode', 'development', ...ks.args, '--confirm'])).code).toBe(0);
    const mac = JSON.parse((await espfleet(['keystore', 'list', '--keystore', ks.path, '--keystore-key-file', ks.keyFile, '--json'])).stdout)[0].mac as string;
    const out = join(dir, 'exported.bin');
    const r = await espfleet(['keystore', 'export', '--keystore', ks.path, '--keystore-key-file', ks.keyFile, '--mac', mac.toUpperCase(), '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const key = new Uint8Array(readFileSync(out));
    expect(key).toHaveLength(32);
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(keyToBlockWords(key));
    const log = readFileSync(`${ks.path}.exports.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ event: 'keystore.export', mac, deviceId: `esp32_${mac.replace(/:/g, '').slice(6).toUpperCase()}`, kind: 'flash-encryption-key', out });
    expect(statSync(`${ks.path}.exports.jsonl`).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(log)).not.toContain(Buffer.from(key).toString('hex'));

    const again = await espfleet(['keystore', 'export', '--keystore', ks.path, '--keystore-key-file', ks.keyFile, '--mac', mac, '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists \[io\.exists\]/);
    const unknown = await espfleet(['keystore', 'export', '--keystore', ks.path, '--keystore-key-file', ks.keyFile, '--mac', '02:00:00:00:00:01', '--out', join(dir, 'x.bin')]);
    expect(unknown.stderr).toMatch(/\[certs\.keystore\.not_found\]/);
    // Neither the refused overwrite nor the unknown MAC exported anything, so neither is logged.
    expect(readFileSync(`${ks.path}.exports.jsonl`, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
