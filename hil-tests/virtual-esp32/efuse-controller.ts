// The ESP32 eFuse controller at register level (spec esp32-rom-efuse-crypto.md §3): write
// registers, CONF 0x5A5A + CMD 2 programs, CONF 0x5AA5 + CMD 1 reloads the read registers,
// bits only go 0→1, WR_DIS masks programming, RD_DIS hides reads but not from the hardware.
import { BLK0_FIELDS, EFUSE, EFUSE_BLOCKS, fieldMask, type EfuseBlockInfo } from './targets/esp32.ts';
import { decode34, type Decoded34 } from './coding-34.ts';

export class EfuseController {
  /** The burned bits, raw (3/4-coded blocks keep their check bytes). */
  readonly fuses: Uint32Array[];
  private readonly wdata: Uint32Array[];
  /** What RDATA shows: a snapshot taken at power-on and at every READ command. */
  private readonly rdata: Uint32Array[];
  private regs = new Map<number, number>();
  private decStatus = 0;
  /** Counts PGM commands, so tests can see how many burns a host needed. */
  programCount = 0;

  constructor(initial?: readonly (readonly number[])[]) {
    this.fuses = EFUSE_BLOCKS.map((b) => new Uint32Array(b.words));
    this.wdata = EFUSE_BLOCKS.map((b) => new Uint32Array(b.words));
    this.rdata = EFUSE_BLOCKS.map((b) => new Uint32Array(b.words));
    initial?.forEach((words, blk) => words.forEach((w, i) => this.fuses[blk] && (this.fuses[blk][i] = w >>> 0)));
    this.powerOn();
  }

  /** Power-on / chip reset: control registers clear and the read registers load from the fuses. */
  powerOn(): void {
    this.regs = new Map();
    for (const w of this.wdata) w.fill(0);
    this.reload();
  }

  /** The value a register read returns (offset from the eFuse base). */
  readRegister(offset: number): number {
    const loc = this.locate(offset);
    if (loc) return (loc.write ? this.wdata : this.rdata)[loc.block.index]?.[loc.word] ?? 0;
    if (offset === EFUSE.decStatus) return this.decStatus;
    // CMD reads back 0 once the operation is done; the model completes commands at once.
    return this.regs.get(offset) ?? 0;
  }

  writeRegister(offset: number, value: number): void {
    const v = value >>> 0;
    const loc = this.locate(offset);
    if (loc) {
      // Read registers are read-only; only the write registers take data.
      if (loc.write) (this.wdata[loc.block.index] as Uint32Array)[loc.word] = v;
      return;
    }
    if (offset === EFUSE.cmd) {
      this.command(v & 3);
      return;
    }
    this.regs.set(offset, v);
  }

  /** Field value as the hardware uses it (ignores RD_DIS: the engine still sees a hidden key). */
  hardwareField(name: string): number {
    const f = BLK0_FIELDS.find((x) => x.name === name);
    if (!f) throw new RangeError(`unknown eFuse field ${name}`);
    return (((this.fuses[0]?.[f.word] ?? 0) & fieldMask(f)) >>> f.lsb) >>> 0;
  }

  /** Decoded data of a key block as the hardware uses it (32 bytes, or 24 under 3/4 coding). */
  hardwareBlockWords(block: number): Uint32Array {
    const raw = this.fuses[block] ?? new Uint32Array(8);
    if (this.codingScheme() !== 1) return raw.slice();
    return this.decodeBlock(raw).words.subarray(0, 6);
  }

  codingScheme(): number {
    const cs = this.hardwareField('CODING_SCHEME');
    return cs === 3 ? 0 : cs;
  }

  private command(cmd: number): void {
    const conf = this.regs.get(EFUSE.conf) ?? 0;
    if (cmd === EFUSE.cmdProgram && conf === EFUSE.confProgram) this.program();
    else if (cmd === EFUSE.cmdRead && conf === EFUSE.confRead) {
      this.reload();
      // Whether silicon clears WDATA by itself is unconfirmed (§3.3 [U]); espefuse's
      // emulator and ESP-IDF both leave them clear after a burn, so a host that writes
      // every word it cares about (as both do) sees the same result either way.
      for (const w of this.wdata) w.fill(0);
    }
    // Without the matching CONF key the controller ignores the command.
    this.regs.set(EFUSE.cmd, 0);
  }

  /** PGM burns every block's write registers at once, minus write-protected bits. */
  private program(): void {
    this.programCount++;
    const wrDis = (this.fuses[0]?.[0] ?? 0) & 0xffff;
    for (const block of EFUSE_BLOCKS) {
      const data = this.wdata[block.index] as Uint32Array;
      const fuses = this.fuses[block.index] as Uint32Array;
      for (let w = 0; w < block.words; w++) {
        fuses[w] = (fuses[w]! | ((data[w] ?? 0) & this.writableMask(block, w, wrDis))) >>> 0;
      }
    }
  }

  private writableMask(block: EfuseBlockInfo, word: number, wrDis: number): number {
    if (block.wrDisBit !== null) return wrDis & (1 << block.wrDisBit) ? 0 : 0xffffffff;
    let mask = 0xffffffff;
    for (const f of BLK0_FIELDS) {
      if (f.word === word && f.wrDis !== null && wrDis & (1 << f.wrDis)) mask &= ~fieldMask(f);
    }
    return mask >>> 0;
  }

  /** READ: copy the fuses into RDATA, decoding 3/4 blocks and zeroing read-protected data. */
  private reload(): void {
    const blk0 = this.fuses[0] as Uint32Array;
    const rdDis = ((blk0[0] ?? 0) >>> 16) & 0xf;
    const scheme = this.codingScheme();
    this.decStatus = 0;
    for (const block of EFUSE_BLOCKS) {
      const out = this.rdata[block.index] as Uint32Array;
      const raw = this.fuses[block.index] as Uint32Array;
      if (block.index === 0) {
        out.set(raw);
        for (const f of BLK0_FIELDS) {
          if (f.rdDis !== null && rdDis & (1 << f.rdDis)) out[f.word] = (out[f.word]! & ~fieldMask(f)) >>> 0;
        }
        continue;
      }
      let words: Uint32Array = raw;
      if (scheme === 1) {
        const decoded = this.decodeBlock(raw);
        words = decoded.words;
        // Only "non-zero = coding error" is documented (§3.3); which of the 12 bits stands for
        // which group is unconfirmed [U], so one bit per (block, group) pair is used here.
        decoded.badGroups.forEach((bad, g) => {
          if (bad) this.decStatus |= 1 << ((block.index - 1) * 4 + g);
        });
      }
      const hidden = block.rdDisBit !== null && rdDis & (1 << block.rdDisBit);
      out.fill(0);
      if (!hidden) out.set(words.subarray(0, block.words));
    }
  }

  private decodeBlock(raw: Uint32Array): Decoded34 {
    return decode34(raw);
  }

  private locate(offset: number): { block: EfuseBlockInfo; word: number; write: boolean } | undefined {
    for (const block of EFUSE_BLOCKS) {
      for (const [base, write] of [
        [block.readOffset, false],
        [block.writeOffset, true],
      ] as const) {
        const rel = offset - base;
        if (rel >= 0 && rel < block.words * 4 && rel % 4 === 0) return { block, word: rel / 4, write };
      }
    }
    return undefined;
  }
}
