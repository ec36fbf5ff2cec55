// Programming ESP32 eFuses the way espefuse and ESP-IDF do (spec esp32-rom-efuse-crypto.md
// §3.3): timing registers for the APB clock, one block's WDATA words (3/4-encoded when
// CODING_SCHEME = 1, §3.4), CONF 0x5A5A + CMD 2, poll, CONF 0x5AA5 + CMD 1, poll, check
// DEC_STATUS, re-read and verify every requested bit. Key blocks go first (BLK3 → BLK1),
// then BLK0, and WR_DIS / RD_DIS / FLASH_CRYPT_CNT / UART_DOWNLOAD_DIS / ABS_DONE_1 in a
// last BLK0 pass, so a key is verified by reading it back before it is hidden.
// Nothing is burned unless the chip reads exactly as the plan expects (DESIGN.md
// invariant 2) and `confirm` is set; without it the result is the dry run.
import { encode34Words, usedGroups34 } from './efuse-coding.ts';
import { efuseError, hex } from './efuse-errors.ts';
import {
  blockReadProtected, blockWriteProtected, codingScheme, fieldReadProtected, fieldValue, fieldWriteProtected, keyBlockWords, readEfuses,
  type EfuseRegisters, type EfuseSnapshot,
} from './efuse-state.ts';
import { EFUSE_BLOCKS, EFUSE_CTRL, EFUSE_TIMING, fieldMask, fieldMax, findField, type KeyBlockIndex } from './targets/esp32-efuses.ts';

export interface EfuseBurnPlan {
  /** BLK0 field → value it must hold afterwards (bits only go 0→1, so a superset of today's). */
  fields?: Readonly<Record<string, number>>;
  /** Key block → data words in RDATA order (8, or 6 under 3/4 coding). */
  keyBlocks?: Partial<Record<KeyBlockIndex, readonly number[]>>;
  /** What the chip must read before anything is burned: every field and block above, at least. */
  expect: {
    fields?: Readonly<Record<string, number>>;
    keyBlocks?: Partial<Record<KeyBlockIndex, readonly number[]>>;
  };
}

export interface FieldChange {
  name: string;
  from: number;
  to: number;
}

export interface BlockChange {
  block: KeyBlockIndex;
  /** Words burned (data, before 3/4 coding); secrets stay out of messages. */
  wordsChanged: number;
}

/** One PGM + READ: the raw WDATA words of one block. */
export interface BurnStep {
  block: 0 | KeyBlockIndex;
  pass: 'key' | 'fields' | 'final';
  raw: number[];
  /** Data words that must read back with these bits set (BLK0: the raw words). */
  verify: number[];
  what: string[];
}

export interface CheckedBurn {
  fields: FieldChange[];
  blocks: BlockChange[];
  steps: BurnStep[];
}

export interface BurnOptions {
  /** APB clock for the timing registers: the crystal under the ROM, 80 MHz under a stub. */
  apbMhz: 26 | 40 | 80;
  /** Irreversible: without it nothing is written and the dry run is returned. */
  confirm: boolean;
  /** Burn attempts per step before giving up (espefuse: 3). */
  attempts?: number;
}

export interface BurnResult extends CheckedBurn {
  dryRun: boolean;
  /** PGM commands issued. */
  programs: number;
  before: EfuseSnapshot;
  after: EfuseSnapshot;
}

/** Checks a plan against what the chip reads and orders the burns; throws every refusal. Pure. */
export function checkBurn(snap: EfuseSnapshot, plan: EfuseBurnPlan): CheckedBurn {
  checkExpectations(snap, plan);
  const fields: FieldChange[] = [];
  const blocks: BlockChange[] = [];
  const steps: BurnStep[] = [];

  for (const block of [3, 2, 1] as const) {
    const target = plan.keyBlocks?.[block];
    if (!target) continue;
    const step = keyBlockStep(snap, block, target);
    if (step) {
      steps.push(step.step);
      blocks.push(step.change);
    }
  }

  const data = new Array<number>(7).fill(0);
  const final = new Array<number>(7).fill(0);
  const dataWhat: string[] = [];
  const finalWhat: string[] = [];
  for (const [name, target] of Object.entries(plan.fields ?? {})) {
    const f = findField(name);
    if (!f) throw efuseError('efuse.unknown_field', `there is no BLK0 eFuse field ${JSON.stringify(name)}`, { hint: 'run `espfleet efuse summary` for the field names' });
    if (!Number.isInteger(target) || target < 0 || target > fieldMax(f)) {
      throw efuseError('efuse.bad_value', `${f.name} is ${f.width} bit(s) wide; ${target} does not fit (max ${hex(fieldMax(f))})`);
    }
    if (fieldReadProtected(snap, f)) {
      throw efuseError('efuse.read_protected', `${f.name} is read-protected (RD_DIS bit ${f.rdDis}): its value cannot be checked, so it is not burned`);
    }
    const from = fieldValue(snap, f);
    if ((from & ~target) !== 0) {
      throw efuseError('efuse.cannot_clear', `${f.name} reads ${hex(from)}; ${hex(target)} would need bits cleared, and eFuse bits only go 0→1`, {
        hint: `ask for a value that keeps the set bits, e.g. ${hex(from | target)}`,
      });
    }
    const add = target & ~from;
    if (add === 0) continue;
    if (fieldWriteProtected(snap, f)) {
      throw efuseError('efuse.write_protected', `${f.name} is write-protected (WR_DIS bit ${f.wrDis}); it reads ${hex(from)} and cannot become ${hex(target)}`);
    }
    const words = f.postponed ? final : data;
    words[f.word] = ((words[f.word] ?? 0) | ((add << f.lsb) & fieldMask(f))) >>> 0;
    (f.postponed ? finalWhat : dataWhat).push(f.name);
    fields.push({ name: f.name, from, to: target });
  }
  if (dataWhat.length > 0) steps.push({ block: 0, pass: 'fields', raw: data, verify: data, what: dataWhat });
  if (finalWhat.length > 0) steps.push({ block: 0, pass: 'final', raw: final, verify: final, what: finalWhat });
  return { fields, blocks, steps };
}

function checkExpectations(snap: EfuseSnapshot, plan: EfuseBurnPlan): void {
  // A plan that does not say what it expects of a field it burns is a programming error.
  for (const name of Object.keys(plan.fields ?? {})) {
    if (plan.expect.fields?.[name] === undefined) throw new Error(`eFuse plan burns ${name} without an expected prior value`);
  }
  for (const b of Object.keys(plan.keyBlocks ?? {})) {
    if (!plan.expect.keyBlocks?.[Number(b) as KeyBlockIndex]) throw new Error(`eFuse plan burns BLOCK${b} without expected prior words`);
  }
  const diffs: string[] = [];
  for (const [name, want] of Object.entries(plan.expect.fields ?? {})) {
    const f = findField(name);
    if (!f) throw efuseError('efuse.unknown_field', `there is no BLK0 eFuse field ${JSON.stringify(name)}`);
    const got = fieldValue(snap, f);
    if (got !== want) diffs.push(`${f.name} expected ${hex(want)}, reads ${hex(got)}`);
  }
  for (const [b, want] of Object.entries(plan.expect.keyBlocks ?? {})) {
    const got = (snap.blocks[Number(b)] ?? []).slice(0, want.length);
    if (got.some((w, i) => w >>> 0 !== (want[i] ?? 0) >>> 0)) diffs.push(`BLOCK${b} does not read as expected`);
  }
  if (diffs.length > 0) {
    throw efuseError('efuse.state_mismatch', `the chip is not in the state the plan expects: ${diffs.join('; ')}; nothing was burned`, {
      hint: 'another tool or run changed this board; read it again (`espfleet efuse summary`) and re-plan',
    });
  }
}

function keyBlockStep(snap: EfuseSnapshot, block: KeyBlockIndex, target: readonly number[]): { step: BurnStep; change: BlockChange } | undefined {
  const n = keyBlockWords(snap);
  const name = `BLOCK${block}`;
  if (target.length !== n) {
    throw efuseError('efuse.bad_value', `${name} holds ${n * 4} bytes under coding scheme ${codingScheme(snap)}, the plan has ${target.length * 4}`);
  }
  if (blockReadProtected(snap, block)) {
    throw efuseError('efuse.read_protected', `${name} is read-protected (RD_DIS bit ${EFUSE_BLOCKS[block]?.rdDisBit}); its content cannot be checked, so nothing is burned into it`);
  }
  const cur = (snap.blocks[block] ?? []).slice(0, n);
  if (cur.some((w, i) => ((w >>> 0) & ~((target[i] ?? 0) >>> 0)) !== 0)) {
    throw efuseError('efuse.cannot_clear', `${name} already holds bits that the new content does not have; eFuse bits only go 0→1`, {
      hint: 'a key block can be burned once; this board already has a different key',
    });
  }
  const changed = cur.filter((w, i) => w >>> 0 !== (target[i] ?? 0) >>> 0).length;
  if (changed === 0) return undefined;
  if (blockWriteProtected(snap, block)) {
    throw efuseError('efuse.write_protected', `${name} is write-protected (WR_DIS bit ${EFUSE_BLOCKS[block]?.wrDisBit})`);
  }
  let raw = target.map((w) => w >>> 0);
  if (n === 6) {
    // Each 6-byte group is write-once: its check bytes would no longer match (§3.4).
    const used = usedGroups34(cur);
    for (let g = 0; g < 4; g++) {
      const same = [0, 1, 2, 3, 4, 5].every((k) => groupByte(cur, g, k) === groupByte(target, g, k));
      if (used[g] && !same) {
        throw efuseError('efuse.coding_conflict', `${name} group ${g} already holds data; the 3/4 coding scheme does not allow changing it`);
      }
    }
    raw = encode34Words(raw);
  }
  return { step: { block, pass: 'key', raw, verify: target.map((w) => w >>> 0), what: [name] }, change: { block, wordsChanged: changed } };
}

function groupByte(words: readonly number[], group: number, k: number): number {
  const at = group * 6 + k;
  return ((words[at >> 2] ?? 0) >>> ((at & 3) * 8)) & 0xff;
}

/** Lines a dry run prints: exactly what would be burned, in order. */
export function describeBurn(checked: CheckedBurn): string[] {
  const lines: string[] = [];
  for (const s of checked.steps) {
    const where = s.block === 0 ? `BLOCK0 (${s.pass === 'final' ? 'last pass' : 'fields'})` : `BLOCK${s.block}`;
    lines.push(`burn ${where}: ${s.what.join(', ')}`);
  }
  for (const f of checked.fields) lines.push(`  ${f.name}: ${hex(f.from)} → ${hex(f.to)}`);
  for (const b of checked.blocks) lines.push(`  BLOCK${b.block}: ${b.wordsChanged} word(s) of key data`);
  if (checked.steps.length === 0) lines.push('nothing to burn: every requested bit is already set');
  return lines;
}

/** Reads, checks and (with confirm) burns; every refusal comes before the first PGM. */
export async function burnEfuses(regs: EfuseRegisters, plan: EfuseBurnPlan, opts: BurnOptions): Promise<BurnResult> {
  const before = await readEfuses(regs);
  const checked = checkBurn(before, plan);
  if (!opts.confirm || checked.steps.length === 0) return { ...checked, dryRun: !opts.confirm, programs: 0, before, after: before };
  await setTiming(regs, opts.apbMhz);
  let programs = 0;
  let after = before;
  for (const step of checked.steps) {
    const attempts = opts.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      await programBlock(regs, step);
      programs++;
      after = await readEfuses(regs);
      const missing = missingBits(after, step);
      if (missing === null) break;
      if (attempt >= attempts) {
        throw efuseError('efuse.verify_failed', `after ${attempt} burn(s) of ${step.what.join(', ')}, ${missing}`, {
          hint: 'the chip may be damaged or its supply unstable; do not retry blindly, check the board',
        });
      }
    }
  }
  return { ...checked, dryRun: false, programs, before, after };
}

/** EFUSE_CLK SEL0/SEL1 and DAC_CLK_DIV, read-modify-write as espefuse does (§3.3 step 1). */
async function setTiming(regs: EfuseRegisters, apbMhz: 26 | 40 | 80): Promise<void> {
  const t = EFUSE_TIMING[apbMhz];
  const clk = await regs.readReg(EFUSE_CTRL.clk);
  await regs.writeReg(EFUSE_CTRL.clk, ((clk & ~0xffff) | t.sel0 | (t.sel1 << 8)) >>> 0);
  const dac = await regs.readReg(EFUSE_CTRL.dacConf);
  await regs.writeReg(EFUSE_CTRL.dacConf, ((dac & ~0xff) | t.dacClkDiv) >>> 0);
}

async function programBlock(regs: EfuseRegisters, step: BurnStep): Promise<void> {
  // Every block's write registers, the others zero: PGM burns all of them at once, and
  // whether silicon clears them after a burn is unconfirmed (§3.3 step 7).
  for (const b of EFUSE_BLOCKS) {
    for (let i = 0; i < b.words; i++) await regs.writeReg(b.write + 4 * i, b.index === step.block ? (step.raw[i] ?? 0) : 0);
  }
  await regs.writeReg(EFUSE_CTRL.conf, EFUSE_CTRL.confProgram);
  await regs.writeReg(EFUSE_CTRL.cmd, EFUSE_CTRL.cmdProgram);
  await waitIdle(regs, 'program');
  await regs.writeReg(EFUSE_CTRL.conf, EFUSE_CTRL.confRead);
  await regs.writeReg(EFUSE_CTRL.cmd, EFUSE_CTRL.cmdRead);
  await waitIdle(regs, 'read');
}

async function waitIdle(regs: EfuseRegisters, what: string): Promise<void> {
  // espefuse waits 0.25 s; a few dozen register reads over the wire take longer than that.
  for (let i = 0; i < 50; i++) if (((await regs.readReg(EFUSE_CTRL.cmd)) & 3) === 0) return;
  throw efuseError('efuse.timeout', `the eFuse controller did not finish the ${what} command (EFUSE_CMD still busy after 50 reads)`, {
    hint: 'reset the board and read the eFuses again before anything else',
  });
}

/** null when every requested bit reads back set; else what is missing. */
function missingBits(snap: EfuseSnapshot, step: BurnStep): string | null {
  if (step.block !== 0 && snap.decStatus !== 0) return `EFUSE_DEC_STATUS reads ${hex(snap.decStatus)} (3/4 coding error)`;
  const words = snap.blocks[step.block] ?? [];
  const hidden = step.block === 0 ? hiddenMask(snap) : [];
  for (let i = 0; i < step.verify.length; i++) {
    const want = ((step.verify[i] ?? 0) & ~(hidden[i] ?? 0)) >>> 0;
    const got = (words[i] ?? 0) >>> 0;
    if (((got & want) >>> 0) !== want) return `word ${i} of BLOCK${step.block} reads ${hex(got)}, bits ${hex(want & ~got)} are missing`;
  }
  return null;
}

/** Bits of BLK0 fields that RD_DIS hides (they read 0 once the last pass sets RD_DIS). */
function hiddenMask(snap: EfuseSnapshot): number[] {
  const mask = new Array<number>(7).fill(0);
  for (const name of ['FLASH_CRYPT_CONFIG', 'CODING_SCHEME', 'KEY_STATUS', 'BLK3_PART_RESERVE']) {
    const f = findField(name);
    if (f && fieldReadProtected(snap, f)) mask[f.word] = ((mask[f.word] ?? 0) | fieldMask(f)) >>> 0;
  }
  return mask;
}

/** An expectation that the chip still reads as `snap` for everything the plan touches. */
export function expectCurrent(snap: EfuseSnapshot, plan: Omit<EfuseBurnPlan, 'expect'>): EfuseBurnPlan {
  const fields: Record<string, number> = {};
  for (const name of Object.keys(plan.fields ?? {})) {
    const f = findField(name);
    if (!f) throw efuseError('efuse.unknown_field', `there is no BLK0 eFuse field ${JSON.stringify(name)}`, { hint: 'run `espfleet efuse summary` for the field names' });
    fields[name] = fieldValue(snap, f);
  }
  const keyBlocks: Partial<Record<KeyBlockIndex, number[]>> = {};
  for (const b of Object.keys(plan.keyBlocks ?? {})) {
    const block = Number(b) as KeyBlockIndex;
    keyBlocks[block] = (snap.blocks[block] ?? []).slice(0, keyBlockWords(snap));
  }
  return { ...plan, expect: { fields, keyBlocks } };
}
