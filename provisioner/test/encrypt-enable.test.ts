// Flash-encryption enablement on the virtual ESP32 (in-process): the key is escrowed before
// any burn and equals what the chip holds, the board boots the pre-encrypted bundle, a
// re-run burns nothing, and refusals (unknown key, other key, dry run) change nothing.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeystore, type Keystore } from '../../certs/index.ts';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { encryptFlash } from '../../firmware-js/flash-encryption/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { enableFlashEncryption, flashWithEscrowedKey, keyToBlockWords, type PlannedRegion } from '../encryption/index.ts';
import { connectBoard, type BoardSession } from '../session/index.ts';
import { DEFAULT_DEVICE_ID_TEMPLATE, deviceIdFor } from '../station/device-id.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-encrypt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();

let ksCounter = 0;
async function keystore(): Promise<Keystore> {
  return createKeystore(join(dir, `ks${++ksCounter}.json`), { key: new Uint8Array(randomBytes(32)) });
}

const demo = makeDemoFirmware({ version: '2.3.4', appSize: 0x20000 });
const plan: PlannedRegion[] = planFlash(readBundle(demo.bundle)).map((r) => ({ address: r.address, bytes: r.bytes, name: r.part, encrypt: r.encrypt }));
const rnd = (n: number) => new Uint8Array(randomBytes(n));

async function withSession<T>(b: TestBoard, fn: (s: BoardSession) => Promise<T>): Promise<T> {
  const s = await connectBoard(b.simUrl);
  try {
    return await fn(s);
  } finally {
    await s.hardReset().catch(() => {});
    await s.close();
  }
}

function efuseState(b: TestBoard): number[][] {
  return b.chip.efuse.fuses.map((w) => Array.from(w));
}

describe('enableFlashEncryption', () => {
  it('development: escrows, burns the key reversed into BLK1, protects it, writes ciphertext, boots; a re-run burns nothing', { timeout: 60_000 }, async () => {
    const b = board();
    const ks = await keystore();
    const r = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, regions: plan, confirm: true, randomKey: rnd }));
    expect(r.key).toBe('new');
    expect(r.final).toMatchObject({ enabled: true, flashCryptCnt: 1, flashCryptConfig: 0xf, keyReadProtected: true, keyWriteProtected: true, releaseMode: false });
    const escrowed = ks.get({ mac: r.mac }, 'flash-encryption-key');
    // Escrowed under the id the station gives this board, so either finds the other's key.
    expect(r.deviceId).toBe(deviceIdFor(DEFAULT_DEVICE_ID_TEMPLATE, r.mac));
    expect(ks.get({ deviceId: deviceIdFor(DEFAULT_DEVICE_ID_TEMPLATE, r.mac) }, 'flash-encryption-key').secret).toEqual(escrowed.secret);
    // The chip's real BLK1 (hidden from RDATA) is the escrowed key in burn-key byte order (§3.6).
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(keyToBlockWords(escrowed.secret));
    expect(b.chip.efuse.readRegister(0x038)).toBe(0);
    expect(b.chip.efuse.hardwareField('RD_DIS')).toBe(1);
    expect(b.chip.efuse.hardwareField('WR_DIS')).toBe(0x80);
    expect(b.chip.efuse.hardwareField('JTAG_DISABLE')).toBe(0);
    expect(b.chip.efuse.hardwareField('DISABLE_DL_ENCRYPT')).toBe(0);
    // The flash holds exactly the host pre-encryption of every encrypted part at its address.
    for (const region of plan) {
      const raw = b.chip.flash.bytes.slice(region.address, region.address + region.bytes.length);
      expect(raw, region.name).toEqual(region.encrypt ? encryptFlash(region.bytes, region.address, escrowed.secret, 0xf) : region.bytes);
    }
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.bootLog()).toContain('flash encryption is enabled');
    expect(b.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 2.3.4");

    const programs = b.chip.efuse.programCount;
    const before = efuseState(b);
    const again = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, regions: plan, confirm: true, randomKey: rnd }));
    expect(again).toMatchObject({ key: 'escrowed', evidenceBefore: 'match', alreadyDone: true, programs: 0 });
    expect(again.regions.reduce((n, x) => n + x.sectorsWritten, 0)).toBe(0);
    expect(b.chip.efuse.programCount).toBe(programs);
    expect(efuseState(b)).toEqual(before);
  });

  it('release: adds the download-mode disables, JTAG/console off, DIS_CACHE locked and the counter at 0x7F; boots', { timeout: 60_000 }, async () => {
    const b = board();
    const ks = await keystore();
    const r = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'release', keystore: ks, regions: plan, confirm: true, randomKey: rnd }));
    expect(r.final).toMatchObject({ enabled: true, flashCryptCnt: 0x7f, flashCryptConfig: 0xf, keyReadProtected: true, keyWriteProtected: true, releaseMode: true });
    const f = (name: string) => b.chip.efuse.hardwareField(name);
    expect([f('DISABLE_DL_ENCRYPT'), f('DISABLE_DL_DECRYPT'), f('DISABLE_DL_CACHE'), f('JTAG_DISABLE'), f('CONSOLE_DEBUG_DISABLE')]).toEqual([1, 1, 1, 1, 1]);
    expect(f('WR_DIS')).toBe(0x80 | 0x08);
    expect(f('UART_DOWNLOAD_DIS')).toBe(0); // kept: espfleet reflashes and repairs over the ROM loader
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(keyToBlockWords(ks.get({ mac: r.mac }, 'flash-encryption-key').secret));
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 2.3.4");
    // Development asked of a release board: already more than satisfied, nothing burned.
    const programs = b.chip.efuse.programCount;
    const dev = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, confirm: true, randomKey: rnd }));
    expect(dev).toMatchObject({ alreadyDone: true, programs: 0, evidenceBefore: 'match' });
    expect(b.chip.efuse.programCount).toBe(programs);
  });

  it('development, then release on the same board: only the release bits are added, with the same key', { timeout: 60_000 }, async () => {
    const b = board();
    const ks = await keystore();
    await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, regions: plan, confirm: true, randomKey: rnd }));
    const rel = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'release', keystore: ks, confirm: true, randomKey: rnd }));
    expect(rel).toMatchObject({ key: 'escrowed', evidenceBefore: 'match' });
    expect(rel.final.releaseMode).toBe(true);
    expect(b.chip.efuse.hardwareField('FLASH_CRYPT_CNT')).toBe(0x7f);
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.bootLog()).toContain("would run app 'app_0'");
  });

  it('3/4 coding scheme: a 24-byte key, 3/4-encoded into BLK1, and the board boots with key || key[8:16]', { timeout: 60_000 }, async () => {
    const b = board({ efuseFields: { CODING_SCHEME: 1 } });
    const ks = await keystore();
    const r = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, regions: plan, confirm: true, randomKey: rnd }));
    const key = ks.get({ mac: r.mac }, 'flash-encryption-key').secret;
    expect(key).toHaveLength(24);
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(keyToBlockWords(key));
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.bootLog()).toContain("would run app 'app_0'");
  });
});

/** Puts a board into "encrypted with a key we never saw": key hidden, counter odd, flash ciphertext. */
function encryptedElsewhere(foreignKey: Uint8Array): TestBoard {
  const words = keyToBlockWords(foreignKey);
  const b = board({ efuseFields: { FLASH_CRYPT_CNT: 1, FLASH_CRYPT_CONFIG: 0xf, RD_DIS: 1, WR_DIS: 0x80 }, efuseBlocks: [[], words] });
  for (const region of plan) {
    const bytes = region.encrypt ? encryptFlash(region.bytes, region.address, foreignKey, 0xf) : region.bytes;
    b.chip.flash.bytes.set(bytes, region.address);
  }
  return b;
}

function snapshotOf(b: TestBoard): { efuse: number[][]; flash: string; programs: number } {
  return { efuse: efuseState(b), flash: Buffer.from(b.chip.flash.bytes).toString('base64'), programs: b.chip.efuse.programCount };
}

describe('refusals change nothing', () => {
  it('a board encrypted with a key the keystore does not have: encryption.unknown_key', { timeout: 30_000 }, async () => {
    const b = encryptedElsewhere(rnd(32));
    const ks = await keystore();
    const before = snapshotOf(b);
    const err = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, regions: plan, confirm: true, randomKey: rnd })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'encryption.unknown_key' });
    expect(String((err as Error).message)).toMatch(/BLK1 of [0-9a-f:]{17} is read-protected/);
    expect(snapshotOf(b)).toEqual(before);
    expect(ks.list()).toEqual([]);
  });

  it('a board whose flash is encrypted with another key than the escrowed one: encryption.key_mismatch', { timeout: 30_000 }, async () => {
    const b = encryptedElsewhere(rnd(32));
    const ks = await keystore();
    const mac = await withSession(b, async (s) => (await s.chipFacts()).mac);
    await ks.put({ deviceId: 'other-board', mac, kind: 'flash-encryption-key', secret: rnd(32) });
    const before = snapshotOf(b);
    const err = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'release', keystore: ks, regions: plan, confirm: true, randomKey: rnd })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'encryption.key_mismatch' });
    expect(snapshotOf(b)).toEqual(before);
  });

  it('a readable BLK1 holding a key that is not escrowed: encryption.unknown_key', { timeout: 30_000 }, async () => {
    const b = board({ efuseBlocks: [[], keyToBlockWords(rnd(32))] });
    const ks = await keystore();
    const before = snapshotOf(b);
    const err = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, confirm: true, randomKey: rnd })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'encryption.unknown_key' });
    expect(snapshotOf(b)).toEqual(before);
  });

  it('a dry run lists every step and changes neither the board nor the keystore', { timeout: 30_000 }, async () => {
    const b = board();
    const ks = await keystore();
    const before = snapshotOf(b);
    const r = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'release', keystore: ks, regions: plan, confirm: false, randomKey: rnd }));
    expect(r.dryRun).toBe(true);
    expect(r.actions[0]).toMatch(/^generate a new 256-bit key and escrow it for esp32_[0-9A-F]{6} \([0-9a-f:]{17}\) in .* before any burn$/);
    expect(r.actions).toContain('burn BLOCK1: BLOCK1');
    expect(r.actions).toContain('  FLASH_CRYPT_CONFIG: 0x0 → 0xf');
    expect(r.actions).toContain('  RD_DIS: 0x0 → 0x1');
    expect(r.actions).toContain('  WR_DIS: 0x0 → 0x88');
    expect(r.actions).toContain('  FLASH_CRYPT_CNT: 0x0 → 0x7f');
    expect(r.actions.some((l) => l.startsWith('write 6 region(s) pre-encrypted'))).toBe(true);
    expect(snapshotOf(b)).toEqual(before);
    expect(ks.list()).toEqual([]);
  });

  it('plaintext firmware on flash and no bundle: encryption.needs_bundle before any escrow or burn', { timeout: 30_000 }, async () => {
    const b = board();
    for (const region of plan) b.chip.flash.bytes.set(region.bytes, region.address);
    const ks = await keystore();
    const before = snapshotOf(b);
    const err = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, confirm: true, randomKey: rnd })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'encryption.needs_bundle' });
    expect(snapshotOf(b)).toEqual(before);
    expect(ks.list()).toEqual([]);
    // With the bundle it goes through and the board boots.
    await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, regions: plan, confirm: true, randomKey: rnd }));
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.bootLog()).toContain("would run app 'app_0'");
  });

  it('a counter that is write-protected while even: encryption.counter_locked before any burn', { timeout: 30_000 }, async () => {
    const b = board({ efuseFields: { WR_DIS: 0x04 } });
    const ks = await keystore();
    const before = snapshotOf(b);
    const err = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'development', keystore: ks, confirm: true, randomKey: rnd })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'encryption.counter_locked' });
    expect(snapshotOf(b)).toEqual(before);
    expect(ks.list()).toEqual([]);
  });
});

describe('flashWithEscrowedKey', () => {
  it('finishes a board left with "counter burned, flash still plaintext": encrypts with the escrowed key, boots', { timeout: 30_000 }, async () => {
    const key = rnd(32);
    const b = board({ efuseFields: { FLASH_CRYPT_CNT: 1, FLASH_CRYPT_CONFIG: 0xf, RD_DIS: 1, WR_DIS: 0x80 }, efuseBlocks: [[], keyToBlockWords(key)] });
    for (const region of plan) b.chip.flash.bytes.set(region.bytes, region.address);
    const ks = await keystore();
    const mac = await withSession(b, async (s) => (await s.chipFacts()).mac);
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.lastBoot?.ok).toBe(false); // plaintext read through the decryption engine
    await ks.put({ deviceId: 'field-board-1', mac, kind: 'flash-encryption-key', secret: key });
    const r = await withSession(b, (s) => flashWithEscrowedKey(s, ks, plan));
    expect(r).toMatchObject({ mac, deviceId: 'field-board-1', flashCryptConfig: 0xf, evidenceBefore: 'plaintext' });
    await new Promise((res) => setTimeout(res, 50));
    expect(b.chip.bootLog()).toContain("would run app 'app_0' at 0x10000, version 2.3.4");
    // Again: the flash now proves the key, and nothing is rewritten.
    const again = await withSession(b, (s) => flashWithEscrowedKey(s, ks, plan));
    expect(again.evidenceBefore).toBe('match');
    expect(again.regions.reduce((n, x) => n + x.sectorsWritten, 0)).toBe(0);
  });
});

