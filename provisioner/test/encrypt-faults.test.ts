// Interrupting flash-encryption enablement everywhere (power loss at every register write
// of the eFuse sequence, before and after each PGM; power loss and a cut transport in the
// flash write; a keystore write that crashes): a re-run finishes the board, and at no
// point does the chip hold key bits that the keystore on disk does not have (invariant 2).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeystore, openKeystore, type KeystoreSecret } from '../../certs/index.ts';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { enableFlashEncryption, keyToBlockWords, type EncryptionBoard, type PlannedRegion } from '../encryption/index.ts';
import { connectBoard, type BoardSession } from '../session/index.ts';
import { type TestBoard, connectWatched, testBoard } from './session-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-encrypt-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rnd = (n: number) => new Uint8Array(randomBytes(n));
const demo = makeDemoFirmware({ version: '3.0.0', appSize: 0x18000 });
const plan: PlannedRegion[] = planFlash(readBundle(demo.bundle)).map((r) => ({ address: r.address, bytes: r.bytes, name: r.part, encrypt: r.encrypt }));

let n = 0;
async function freshKeystore(): Promise<{ path: string; secret: KeystoreSecret }> {
  const path = join(dir, `ks${++n}.json`);
  const secret = { key: new Uint8Array(randomBytes(32)) };
  await createKeystore(path, secret);
  return { path, secret };
}

/** Invariant 2, checked against the chip's real BLK1 and the keystore as it is on disk. */
async function assertKeyEscrowed(b: TestBoard, ks: { path: string; secret: KeystoreSecret }, mac: string): Promise<void> {
  const burned = Array.from(b.chip.efuse.hardwareBlockWords(1));
  if (burned.every((w) => w === 0)) return;
  const onDisk = await openKeystore(ks.path, ks.secret);
  const escrowed = keyToBlockWords(onDisk.get({ mac }, 'flash-encryption-key').secret);
  burned.forEach((w, i) => expect(((w & ~(escrowed[i] ?? 0)) >>> 0), `BLK1 word ${i} has bits the escrowed key lacks`).toBe(0));
}


function powerCycle(b: TestBoard): void {
  b.chip.powerOff();
  b.chip.powerOn();
}

async function run(b: TestBoard, ks: { path: string; secret: KeystoreSecret }, regions?: readonly PlannedRegion[], session?: BoardSession): Promise<unknown> {
  const s = session ?? (await connectBoard(b.simUrl, { connectAttempts: 2 }));
  try {
    const keystore = await openKeystore(ks.path, ks.secret);
    return await enableFlashEncryption(s, { mode: 'development', keystore, confirm: true, randomKey: rnd, ...(regions ? { regions } : {}) });
  } catch (e) {
    return e;
  } finally {
    await s.hardReset().catch(() => {});
    await s.close();
  }
}

function expectFinished(b: TestBoard): void {
  expect(b.chip.flashEncryptionEnabled()).toBe(true);
  expect(b.chip.efuse.hardwareField('RD_DIS') & 1).toBe(1);
  expect(b.chip.efuse.hardwareField('WR_DIS') & 0x80).toBe(0x80);
  expect(b.chip.efuse.hardwareField('FLASH_CRYPT_CONFIG')).toBe(0xf);
  expect(b.chip.efuse.hardwareField('FLASH_CRYPT_CNT')).toBe(1);
}

/** Counts the register writes enablement makes, so the sweep covers all of them. */
function counting(s: BoardSession): EncryptionBoard & { writes: number } {
  const c = {
    writes: 0,
    get stubRunning() {
      return s.stubRunning;
    },
    chipFacts: () => s.chipFacts(),
    readFlash: (a: number, l: number) => s.readFlash(a, l),
    writeRegions: (r: Parameters<BoardSession['writeRegions']>[0], o?: Parameters<BoardSession['writeRegions']>[1]) => s.writeRegions(r, o),
    readReg: (a: number) => s.readReg(a),
    writeReg: (a: number, v: number) => {
      c.writes++;
      return s.writeReg(a, v);
    },
  };
  return c;
}

describe('interrupted enablement is finished by a re-run, and never burns an unescrowed key', () => {
  it('power loss at every eFuse register write (before and after each PGM and READ)', { timeout: 300_000 }, async () => {
    // Reference run: how many WRITE_REGs enablement itself makes.
    const ref = testBoard();
    const refKs = await freshKeystore();
    const s = await connectBoard(ref.simUrl);
    const counted = counting(s);
    const keystore = await openKeystore(refKs.path, refKs.secret);
    await enableFlashEncryption(counted, { mode: 'development', keystore, confirm: true, randomKey: rnd });
    await s.close();
    await ref.dispose();
    expect(counted.writes).toBeGreaterThan(100);

    const outcomes = new Map<string, number>();
    for (let at = 1; at <= counted.writes; at++) {
      const b = testBoard();
      try {
        const ks = await freshKeystore();
        const session = await connectWatched(b);
        const mac = (await session.chipFacts()).mac;
        // Armed after connecting, so occurrence `at` is the at-th write enablement makes.
        b.chip.injectPowerLoss({ atCommand: 'WRITE_REG', occurrence: at });
        const first = await run(b, ks, undefined, session);
        expect(first, `cut at write ${at}`).toBeInstanceOf(Error);
        const code = (first as { code?: string }).code ?? String(first);
        outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
        await assertKeyEscrowed(b, ks, mac);
        powerCycle(b);
        const second = await run(b, ks);
        expect(second, `re-run after a cut at write ${at}: ${String(second)}`).not.toBeInstanceOf(Error);
        expect((second as { key: string }).key).toBe('escrowed'); // never a second key
        expectFinished(b);
        await assertKeyEscrowed(b, ks, mac);
      } finally {
        await b.dispose();
      }
    }
    // Every cut shows up as the board going silent or the port vanishing, never as a bug.
    for (const code of outcomes.keys()) expect(code).toMatch(/^session\./);
  });

  it('power loss and a cut transport while writing the pre-encrypted bundle, and at each PGM', { timeout: 240_000 }, async () => {
    const faults: Array<{ name: string; arm: (b: TestBoard, transportClose: () => void) => void }> = [
      { name: 'power loss at FLASH_DEFL_DATA #1', arm: (b) => b.chip.injectPowerLoss({ atCommand: 'FLASH_DEFL_DATA', occurrence: 1 }) },
      { name: 'power loss at FLASH_DEFL_DATA #12', arm: (b) => b.chip.injectPowerLoss({ atCommand: 'FLASH_DEFL_DATA', occurrence: 12 }) },
      { name: 'power loss mid-packet after 70 kB', arm: (b) => b.chip.injectPowerLoss({ afterRxBytes: 70_000 }) },
      ...[1, 2, 3, 4].map((k) => ({
        name: `transport cut right after PGM #${k}`,
        arm: (b: TestBoard, close: () => void) => {
          let seen = 0;
          const off = b.chip.onCommit((op) => {
            if (op === 'EFUSE_PGM' && ++seen === k) {
              off();
              close();
            }
          });
        },
      })),
      {
        name: 'transport cut while writing flash',
        arm: (b: TestBoard, close: () => void) => {
          let seen = 0;
          const off = b.chip.onCommit((op) => {
            if (op === 'FLASH_DEFL_DATA' && ++seen === 5) {
              off();
              close();
            }
          });
        },
      },
    ];
    for (const fault of faults) {
      const b = testBoard();
      try {
        const ks = await freshKeystore();
        const session = await connectWatched(b);
        const mac = (await session.chipFacts()).mac;
        fault.arm(b, () => void session.transport.close());
        const first = await run(b, ks, plan, session);
        expect(first, fault.name).toBeInstanceOf(Error);
        expect((first as { code?: string }).code, `${fault.name}: ${String(first)}`).toMatch(/^session\./);
        await assertKeyEscrowed(b, ks, mac);
        if (b.chip.state === 'dead') powerCycle(b);
        const second = await run(b, ks, plan);
        expect(second, `${fault.name}: re-run ${String(second)}`).not.toBeInstanceOf(Error);
        expectFinished(b);
        await assertKeyEscrowed(b, ks, mac);
        await new Promise((r) => setTimeout(r, 30));
        expect(b.chip.bootLog(), fault.name).toContain("would run app 'app_0' at 0x10000, version 3.0.0");
      } finally {
        await b.dispose();
      }
    }
  });

  it('a keystore write that crashes before its rename: nothing is burned; the re-run escrows and finishes', { timeout: 60_000 }, async () => {
    const b = testBoard();
    try {
      const ks = await freshKeystore();
      const crashing = await openKeystore(ks.path, ks.secret, {
        hooks: {
          beforeRename: () => {
            throw new Error('simulated crash before rename');
          },
        },
      });
      const s = await connectBoard(b.simUrl);
      const err = await enableFlashEncryption(s, { mode: 'development', keystore: crashing, confirm: true, randomKey: rnd }).catch((e: unknown) => e);
      await s.close();
      expect(String(err)).toContain('simulated crash before rename');
      expect(b.chip.efuse.programCount).toBe(0);
      expect((await openKeystore(ks.path, ks.secret)).list()).toEqual([]);
      const second = await run(b, ks);
      expect((second as { key: string }).key).toBe('new');
      expectFinished(b);
      await assertKeyEscrowed(b, ks, (await openKeystore(ks.path, ks.secret)).list()[0]?.mac ?? '');
    } finally {
      await b.dispose();
    }
  });
});
