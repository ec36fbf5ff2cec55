// The eFuse programmer against the virtual ESP32's controller (spec §3.3-§3.5): the burn
// sequence and its order, verification, dry runs, and every refusal leaving the chip as it was.
import { afterEach, describe, expect, it } from 'vitest';
import { burnEfuses, checkBurn, connectBoard, expectCurrent, readEfuses, summarizeEfuses, type BoardSession, type EfuseBurnPlan } from '../session/index.ts';
import { encode34Words } from '../session/efuse-coding.ts';
import { encode34 } from '../../hil-tests/virtual-esp32/index.ts';
import { testBoard, type TestBoard } from './session-fixtures.ts';

const boards: TestBoard[] = [];
afterEach(async () => {
  for (const b of boards.splice(0)) await b.dispose();
});

async function session(opts: Parameters<typeof testBoard>[0] = {}): Promise<{ b: TestBoard; s: BoardSession }> {
  const b = testBoard(opts);
  boards.push(b);
  const s = await connectBoard(b.simUrl);
  return { b, s };
}

const fuses = (b: TestBoard) => b.chip.efuse.fuses.map((w) => Array.from(w));

async function planNow(s: BoardSession, plan: Omit<EfuseBurnPlan, 'expect'>): Promise<EfuseBurnPlan> {
  return expectCurrent(await readEfuses(s), plan);
}

async function refusal(s: BoardSession, plan: EfuseBurnPlan): Promise<{ code?: string; message: string }> {
  const e = await burnEfuses(s, plan, { apbMhz: 80, confirm: true }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(Error);
  return e as { code?: string; message: string };
}

describe('burnEfuses', () => {
  it('burns BLK0 fields, then WR_DIS in a last pass so the field it protects is already set', async () => {
    const { b, s } = await session();
    const commits: string[] = [];
    b.chip.onCommit((op) => commits.push(op));
    const plan = await planNow(s, { fields: { JTAG_DISABLE: 1, WR_DIS: 1 << 14, FLASH_CRYPT_CONFIG: 0xf } });
    const r = await burnEfuses(s, plan, { apbMhz: 80, confirm: true });
    expect(r.steps.map((x) => [x.pass, x.what])).toEqual([
      ['fields', ['JTAG_DISABLE', 'FLASH_CRYPT_CONFIG']],
      ['final', ['WR_DIS']],
    ]);
    expect(r.programs).toBe(2);
    expect(commits.filter((c) => c === 'EFUSE_PGM')).toHaveLength(2);
    expect(b.chip.efuse.hardwareField('JTAG_DISABLE')).toBe(1);
    expect(b.chip.efuse.hardwareField('WR_DIS')).toBe(0x4000);
    expect(b.chip.efuse.hardwareField('FLASH_CRYPT_CONFIG')).toBe(0xf);
    // Timing for the 80 MHz APB the stub runs (§3.3 step 1): SEL0 80, SEL1 128, DAC_CLK_DIV 100.
    expect(b.chip.efuse.readRegister(0x0f8) & 0xffff).toBe(80 | (128 << 8));
    expect(b.chip.efuse.readRegister(0x118) & 0xff).toBe(100);
    // What was burned is what the summary reads.
    const sum = summarizeEfuses(r.after);
    expect(sum.fields.find((f) => f.name === 'JTAG_DISABLE')).toMatchObject({ value: 1, access: 'R/-' });
    await s.close();
  });

  it('a dry run and a plan with nothing new issue no PGM', async () => {
    const { b, s } = await session({ efuseFields: { JTAG_DISABLE: 1 } });
    const before = fuses(b);
    const dry = await burnEfuses(s, await planNow(s, { fields: { DISABLE_DL_CACHE: 1 } }), { apbMhz: 80, confirm: false });
    expect(dry).toMatchObject({ dryRun: true, programs: 0 });
    expect(dry.fields).toEqual([{ name: 'DISABLE_DL_CACHE', from: 0, to: 1 }]);
    const same = await burnEfuses(s, await planNow(s, { fields: { JTAG_DISABLE: 1 } }), { apbMhz: 80, confirm: true });
    expect(same).toMatchObject({ dryRun: false, programs: 0, steps: [] });
    expect(fuses(b)).toEqual(before);
    expect(b.chip.efuse.programCount).toBe(0);
    await s.close();
  });

  it('burns a key block, verifies it read back, then hides it with RD_DIS in the last pass', async () => {
    const { b, s } = await session();
    const key = [0x87a299df, 0x6d2abb45, 0x12c0c24c, 0x712bdd38, 0x8ede071e, 0xc3183825, 0x2ae7e59b, 0xe63e5c27];
    const r = await burnEfuses(s, await planNow(s, { keyBlocks: { 1: key }, fields: { RD_DIS: 1, WR_DIS: 0x80 } }), { apbMhz: 40, confirm: true });
    expect(r.steps.map((x) => x.block)).toEqual([1, 0]);
    expect(Array.from(b.chip.efuse.hardwareBlockWords(1))).toEqual(key);
    expect(b.chip.efuse.readRegister(0x038)).toBe(0);
    expect(summarizeEfuses(r.after).blocks[0]).toMatchObject({ block: 1, hex: null, readProtected: true, writeProtected: true });
    await s.close();
  });

  it('3/4 coding: the block is written encoded exactly as the controller expects (cross-checked with the double)', async () => {
    const data = [0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00, 0x01020304, 0x05060708];
    const bytes = new Uint8Array(24);
    data.forEach((w, i) => new DataView(bytes.buffer).setUint32(i * 4, w, true));
    expect(encode34Words(data)).toEqual(Array.from(encode34(bytes)));
    const { b, s } = await session({ efuseFields: { CODING_SCHEME: 1 } });
    await burnEfuses(s, await planNow(s, { keyBlocks: { 3: data } }), { apbMhz: 80, confirm: true });
    expect(Array.from(b.chip.efuse.hardwareBlockWords(3))).toEqual(data);
    expect(b.chip.efuse.readRegister(0x11c)).toBe(0);
    // A group that holds data is write-once.
    const changed = [...data];
    changed[0] = 0x11223345;
    const e = await refusal(s, await planNow(s, { keyBlocks: { 3: changed } }));
    expect(e.code).toBe('efuse.coding_conflict');
    await s.close();
  });
});

describe('refusals leave the chip as it was', () => {
  it('write-protected, read-protected, clearing bits, too wide, unknown field, state changed since the plan', async () => {
    const { b, s } = await session({ efuseFields: { WR_DIS: (1 << 15) | (1 << 8), RD_DIS: 0b0100, FLASH_CRYPT_CONFIG: 0x3 } });
    const before = fuses(b);
    const e1 = await refusal(s, await planNow(s, { fields: { DISABLE_DL_ENCRYPT: 1 } }));
    expect(e1).toMatchObject({ code: 'efuse.write_protected' });
    expect(e1.message).toContain('DISABLE_DL_ENCRYPT is write-protected (WR_DIS bit 15)');
    expect((await refusal(s, await planNow(s, { keyBlocks: { 2: [1, 0, 0, 0, 0, 0, 0, 0] } }))).code).toBe('efuse.write_protected');
    expect((await refusal(s, await planNow(s, { keyBlocks: { 3: [1, 0, 0, 0, 0, 0, 0, 0] } }))).code).toBe('efuse.read_protected');
    const clear = await refusal(s, await planNow(s, { fields: { FLASH_CRYPT_CONFIG: 0xc } }));
    expect(clear).toMatchObject({ code: 'efuse.cannot_clear' });
    expect(clear.message).toContain('FLASH_CRYPT_CONFIG reads 0x3; 0xc would need bits cleared');
    expect((await refusal(s, await planNow(s, { fields: { FLASH_CRYPT_CNT: 0x80 } }))).code).toBe('efuse.bad_value');
    expect(() => checkBurn({ blocks: [[0, 0, 0, 0, 0, 0, 0]], decStatus: 0 }, { fields: { NOPE: 1 }, expect: { fields: { NOPE: 0 } } })).toThrow(/no BLK0 eFuse field "NOPE"/);
    const stale = await refusal(s, { fields: { JTAG_DISABLE: 1 }, expect: { fields: { JTAG_DISABLE: 0, FLASH_CRYPT_CONFIG: 0 } } });
    expect(stale).toMatchObject({ code: 'efuse.state_mismatch' });
    expect(stale.message).toContain('FLASH_CRYPT_CONFIG expected 0x0, reads 0x3');
    expect(fuses(b)).toEqual(before);
    expect(b.chip.efuse.programCount).toBe(0);
    await s.close();
  });
});
