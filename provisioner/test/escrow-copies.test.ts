// Escrow that survives one failed disk (issue 21): with keystore mirrors, a new
// flash-encryption key is durable in every store before any eFuse is burned; one store that
// fails stops the burn (the board's eFuses stay as they were) and is named; copies that
// differ are refused at open; escrow.copies defaults to 2 in release mode.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeystore, KeystoreCopies, openKeystore, type KeystoreSecret } from '../../certs/index.ts';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { enableFlashEncryption, type PlannedRegion } from '../encryption/index.ts';
import { connectBoard, type BoardSession } from '../session/index.ts';
import { escrowCopies, parseStationConfig } from '../station/config.ts';
import { openEscrow } from '../station/escrow-stores.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-escrow-copies-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const board = boardsPerTest();
const demo = makeDemoFirmware({ version: '2.3.4', appSize: 0x20000 });
const plan: PlannedRegion[] = planFlash(readBundle(demo.bundle)).map((r) => ({ address: r.address, bytes: r.bytes, name: r.part, encrypt: r.encrypt }));
const rnd = (n: number) => new Uint8Array(randomBytes(n));
let n = 0;

async function withSession<T>(b: TestBoard, fn: (s: BoardSession) => Promise<T>): Promise<T> {
  const s = await connectBoard(b.simUrl);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** A primary keystore and a mirror that is a byte copy of it, both under one key. */
async function twoStores(): Promise<{ primary: string; mirror: string; secret: KeystoreSecret }> {
  const secret = { key: new Uint8Array(randomBytes(32)) };
  const primary = join(dir, `ks${++n}.json`);
  const mirrorDir = join(dir, `usb${n}`);
  mkdirSync(mirrorDir);
  await createKeystore(primary, secret);
  const mirror = join(mirrorDir, 'keystore.json');
  copyFileSync(primary, mirror);
  return { primary, mirror, secret };
}

const efuses = (b: TestBoard) => b.chip.efuse.fuses.map((w) => Array.from(w));

const MIN = '[station]\nid = "s"\noperator = "o"\n';
const parse = (text: string) => parseStationConfig(text, { baseDir: dir });

describe('escrow copies', () => {
  it('release mode with a mirror: the key is in both stores before the burn, and they read the same', { timeout: 60_000 }, async () => {
    const { primary, mirror, secret } = await twoStores();
    const escrow = await KeystoreCopies.open([primary, mirror], secret);
    const b = board();
    const r = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'release', keystore: escrow, regions: plan, confirm: true, randomKey: rnd }));
    expect(r.final.releaseMode).toBe(true);
    const fromPrimary = (await openKeystore(primary, secret)).get({ mac: r.mac }, 'flash-encryption-key').secret;
    const fromMirror = (await openKeystore(mirror, secret)).get({ mac: r.mac }, 'flash-encryption-key').secret;
    expect(fromMirror).toEqual(fromPrimary);
  });

  it('an unwritable mirror: nothing is burned, the error names the store', { timeout: 60_000 }, async () => {
    const { primary, mirror, secret } = await twoStores();
    const escrow = await KeystoreCopies.open([primary, mirror], secret, {
      hooksFor: (p) => (p === mirror ? { beforeRename: () => { throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' }); } } : undefined),
    });
    const b = board();
    const before = efuses(b);
    const err = await withSession(b, (s) => enableFlashEncryption(s, { mode: 'release', keystore: escrow, regions: plan, confirm: true, randomKey: rnd })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'certs.keystore.store_failed' });
    expect((err as Error).message).toContain(`escrow store 2 of 2 (${mirror})`);
    expect((err as Error).message).toContain('no eFuse is burned');
    expect(efuses(b)).toEqual(before);
    expect(b.chip.flashEncryptionEnabled()).toBe(false);
    // The primary took the key, the mirror did not: the next open refuses until they agree.
    await expect(KeystoreCopies.open([primary, mirror], secret)).rejects.toMatchObject({ code: 'certs.keystore.copies_differ' });
    copyFileSync(primary, mirror);
    await expect(KeystoreCopies.open([primary, mirror], secret)).resolves.toBeInstanceOf(KeystoreCopies);
  });

  it('a missing mirror is created from the primary; one that cannot be created is named', async () => {
    const { primary, secret } = await twoStores();
    const fresh = join(dir, `usb${n}`, 'new-copy.json');
    const copies = await KeystoreCopies.open([primary, fresh], secret, { createMissing: true });
    expect(copies.stores.map((s) => s.path)).toEqual([primary, fresh]);
    const gone = join(dir, 'not-mounted', 'keystore.json');
    await expect(KeystoreCopies.open([primary, gone], secret, { createMissing: true })).rejects.toThrow(`escrow store 2 of 2 (${gone}) cannot be created`);
  });

  it('station.toml: escrow.copies defaults to 2 in release mode, 1 otherwise; too few stores are refused', async () => {
    const release = parse(`${MIN}[keystore]\npath = "ks.json"\n[encryption]\nmode = "release"\n`);
    expect(escrowCopies(release)).toBe(2);
    expect(escrowCopies(parse(`${MIN}[keystore]\npath = "ks.json"\n[encryption]\nmode = "development"\n`))).toBe(1);
    const mirrored = parse(`${MIN}[keystore]\npath = "ks.json"\nmirrors = ["/mnt/usb/ks.json"]\n[escrow]\ncopies = 2\n`);
    expect(mirrored.keystore.mirrors).toEqual(['/mnt/usb/ks.json']);
    expect(() => parse(`${MIN}[keystore]\npath = "ks.json"\n[escrow]\ncopies = 3\n`)).toThrow(/escrow\.copies is 3 but only 1 store/);
    expect(() => parse(`${MIN}[escrow]\ncopies = 0\n`)).toThrow(/escrow\.copies: expected a whole number from 1 to 8/);
    const { primary, secret } = await twoStores();
    await expect(openEscrow(release, primary, secret)).rejects.toMatchObject({ code: 'station.escrow.too_few_stores' });
  });
});
