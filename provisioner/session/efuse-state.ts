// Reading the ESP32 eFuse blocks through READ_REG (spec esp32-rom-efuse-crypto.md §3.1,
// §3.2, §3.5): BLK0 words, BLK1-3 data, protection bits, DEC_STATUS. A read-protected
// block or field reads as zero, so the snapshot keeps the protection next to the value.
import { EFUSE_BLOCKS, EFUSE_CTRL, EFUSE_FIELDS, fieldMask, type EfuseFieldInfo, type KeyBlockIndex } from './targets/esp32-efuses.ts';

/** Register access; BoardSession provides it, tests may too. */
export interface EfuseRegisters {
  readReg(address: number): Promise<number>;
  writeReg(address: number, value: number): Promise<void>;
}

export interface EfuseSnapshot {
  /** RDATA words per block: BLK0 (7), BLK1-3 (8, decoded by the controller under 3/4 coding). */
  blocks: number[][];
  /** EFUSE_DEC_STATUS low 12 bits: 3/4 coding errors found by the last READ. */
  decStatus: number;
}

export async function readEfuses(regs: Pick<EfuseRegisters, 'readReg'>): Promise<EfuseSnapshot> {
  const blocks: number[][] = [];
  for (const b of EFUSE_BLOCKS) {
    const words: number[] = [];
    for (let i = 0; i < b.words; i++) words.push((await regs.readReg(b.read + 4 * i)) >>> 0);
    blocks.push(words);
  }
  const decStatus = ((await regs.readReg(EFUSE_CTRL.decStatus)) & 0xfff) >>> 0;
  return { blocks, decStatus };
}

export function fieldValue(snap: EfuseSnapshot, f: EfuseFieldInfo): number {
  return (((snap.blocks[0]?.[f.word] ?? 0) & fieldMask(f)) >>> f.lsb) >>> 0;
}

export function valueOf(snap: EfuseSnapshot, name: string): number {
  const f = EFUSE_FIELDS.find((x) => x.name === name);
  if (!f) throw new RangeError(`no eFuse field ${name}`);
  return fieldValue(snap, f);
}

export const wrDisBits = (snap: EfuseSnapshot): number => (snap.blocks[0]?.[0] ?? 0) & 0xffff;
export const rdDisBits = (snap: EfuseSnapshot): number => ((snap.blocks[0]?.[0] ?? 0) >>> 16) & 0xf;

export function fieldWriteProtected(snap: EfuseSnapshot, f: EfuseFieldInfo): boolean {
  return f.wrDis !== null && (wrDisBits(snap) & (1 << f.wrDis)) !== 0;
}
export function fieldReadProtected(snap: EfuseSnapshot, f: EfuseFieldInfo): boolean {
  return f.rdDis !== null && (rdDisBits(snap) & (1 << f.rdDis)) !== 0;
}
export function blockWriteProtected(snap: EfuseSnapshot, block: KeyBlockIndex): boolean {
  return (wrDisBits(snap) & (1 << (EFUSE_BLOCKS[block]?.wrDisBit ?? 0))) !== 0;
}
export function blockReadProtected(snap: EfuseSnapshot, block: KeyBlockIndex): boolean {
  return (rdDisBits(snap) & (1 << (EFUSE_BLOCKS[block]?.rdDisBit ?? 0))) !== 0;
}

/** 0 none, 1 3/4, 2 repeat; 3 means none too (§3.2). */
export function codingScheme(snap: EfuseSnapshot): 0 | 1 | 2 {
  const cs = valueOf(snap, 'CODING_SCHEME');
  return cs === 3 ? 0 : (cs as 0 | 1 | 2);
}

/** Data words a key block holds: 8, or 6 (24 bytes) under 3/4 coding. */
export function keyBlockWords(snap: EfuseSnapshot): 6 | 8 {
  return codingScheme(snap) === 1 ? 6 : 8;
}

export interface EfuseFieldReport {
  name: string;
  value: number;
  /** espefuse's column: R/W, R/-, -/W, -/- (readable / writable). */
  access: string;
  description: string;
}

export interface EfuseBlockReport {
  block: KeyBlockIndex;
  name: string;
  /** Hex of the data bytes in register order, or null when read-protected. */
  hex: string | null;
  blank: boolean | null;
  readProtected: boolean;
  writeProtected: boolean;
}

export interface EfuseSummary {
  fields: EfuseFieldReport[];
  blocks: EfuseBlockReport[];
  codingScheme: 'none' | '3/4' | 'repeat';
  decStatus: number;
}

/** Every BLK0 field and BLK1-3 status, as `espfleet efuse summary` prints them. */
export function summarizeEfuses(snap: EfuseSnapshot): EfuseSummary {
  const access = (r: boolean, w: boolean) => `${r ? '-' : 'R'}/${w ? '-' : 'W'}`;
  const fields = EFUSE_FIELDS.map((f) => ({
    name: f.name,
    value: fieldValue(snap, f),
    access: access(fieldReadProtected(snap, f), fieldWriteProtected(snap, f)),
    description: f.description,
  }));
  const n = keyBlockWords(snap);
  const blocks = ([1, 2, 3] as const).map((block) => {
    const rp = blockReadProtected(snap, block);
    const words = (snap.blocks[block] ?? []).slice(0, n);
    const bytes = Buffer.alloc(n * 4);
    words.forEach((w, i) => bytes.writeUInt32LE(w >>> 0, i * 4));
    return {
      block,
      name: EFUSE_BLOCKS[block]?.name ?? `BLOCK${block}`,
      hex: rp ? null : bytes.toString('hex'),
      blank: rp ? null : words.every((w) => w === 0),
      readProtected: rp,
      writeProtected: blockWriteProtected(snap, block),
    };
  });
  return { fields, blocks, codingScheme: (['none', '3/4', 'repeat'] as const)[codingScheme(snap)], decStatus: snap.decStatus };
}
