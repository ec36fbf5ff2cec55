// MEM_BEGIN / MEM_DATA / MEM_END (spec esp32-rom-efuse-crypto.md §1.7, §1.9): segments land in
// RAM; MEM_END with "run" jumps to an entry point. The double cannot execute Xtensa code, so it
// only reports which loaded segment the entry falls into.
import { RAM_BLOCK, ROM_ERR, STUB_ERR } from './targets/esp32.ts';
import { dataChecksum, u32s, type Request } from './protocol.ts';

export type RamResult = { ok: true } | { ok: false; rom: number; stub: number };

export class RamDownload {
  private readonly ram = new Map<number, Uint8Array>();
  private current: { addr: number; blockSize: number } | undefined;

  begin(d: Uint8Array): RamResult {
    if (d.length !== 16) return { ok: false, rom: ROM_ERR.invalidMessage, stub: STUB_ERR.badDataLen };
    const [size = 0, , blockSize = 0, addr = 0] = u32s(d, 4);
    this.current = { addr, blockSize: blockSize || RAM_BLOCK };
    this.ram.set(addr, new Uint8Array(size));
    return { ok: true };
  }

  data(req: Request): RamResult {
    const d = req.data;
    if (!this.current) return { ok: false, rom: ROM_ERR.failedToAct, stub: STUB_ERR.notInFlashMode };
    if (d.length < 16) return { ok: false, rom: ROM_ERR.invalidMessage, stub: STUB_ERR.notEnoughData };
    const [len = 0, seq = 0] = u32s(d, 2);
    const payload = d.subarray(16);
    if (len !== payload.length) return { ok: false, rom: ROM_ERR.invalidMessage, stub: STUB_ERR.tooMuchData };
    if (dataChecksum(payload) !== (req.checksum & 0xff)) return { ok: false, rom: ROM_ERR.badChecksum, stub: STUB_ERR.badChecksum };
    const at = seq * this.current.blockSize;
    const seg = this.ram.get(this.current.addr);
    if (!seg || at + payload.length > seg.length) return { ok: false, rom: ROM_ERR.invalidMessage, stub: STUB_ERR.tooMuchData };
    seg.set(payload, at);
    return { ok: true };
  }

  /** MEM_END: returns the entry to jump to (undefined = stay), and whether code was loaded there. */
  end(d: Uint8Array): RamResult | { ok: true; entry: number | undefined; loaded: boolean } {
    if (d.length !== 8) return { ok: false, rom: ROM_ERR.invalidMessage, stub: STUB_ERR.badDataLen };
    // Word 0 is a "do not run" flag (esptool sends entry == 0), word 1 the entry (§1.7 trap 3).
    const [noRun = 0, entry = 0] = u32s(d, 2);
    this.current = undefined;
    if (noRun !== 0 || entry === 0) return { ok: true, entry: undefined, loaded: false };
    const loaded = [...this.ram.entries()].some(([addr, seg]) => entry >= addr && entry < addr + seg.length);
    return { ok: true, entry, loaded };
  }

  clear(): void {
    this.ram.clear();
    this.current = undefined;
  }
}
