// The fast path of factory provisioning for headless fleets: a board session that reaches the
// virtual chip's registers and flash directly instead of through the ROM protocol over the
// emulated UART. The station pipeline runs unchanged on top of it (identify, identity,
// escrow, eFuse burns, writes, boot check, record), so records and audit entries are the
// ones a real provisioning makes; only the wire is skipped. The chip is put in download mode
// and reset into its app through its own auto-reset circuit, as a host would.
import { decodeChipFacts, type BoardSession, type ChipFacts, type RegionResult, type WriteProgress, type WriteRegion } from '../../provisioner/session/index.ts';
import { ESP32 } from '../../provisioner/session/targets/esp32.ts';
import { checkRegions, md5Hex, writeRegions } from '../../provisioner/session/write-regions.ts';
import { RegisterBus } from '../virtual-esp32/register-bus.ts';
import { Spi1Controller } from '../virtual-esp32/spi1-controller.ts';
import { BOOT_STRAPS, REVISIONS, jedecIdFor } from '../virtual-esp32/targets/esp32.ts';
import type { VirtualEsp32 } from '../virtual-esp32/virtual-esp32.ts';

/** What the pipeline uses of a BoardSession; the direct session provides exactly this. */
export type PipelineBoard = Pick<BoardSession, 'url' | 'stubRunning' | 'chipFacts' | 'readReg' | 'writeReg' | 'md5' | 'readFlash' | 'writeRegions' | 'hardReset' | 'close'>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DirectBoardSession implements PipelineBoard {
  /** A stub-level session: MD5 and flash writes are available, as after esptool's stub loads. */
  readonly stubRunning = true;
  private readonly bus: RegisterBus;
  private left = false;

  private constructor(
    readonly url: string,
    private readonly chip: VirtualEsp32,
  ) {
    const o = chip.options;
    // The chip's own eFuse controller behind a bus as the stub sees it (APB on the 80 MHz PLL).
    this.bus = new RegisterBus(
      { magic: o.chipMagic, apbCtlDate: REVISIONS[o.revision].apbCtlDate, xtalMhz: o.xtalMhz, baud: () => ESP32.romBaud, apbMhz: () => 80, strapping: () => BOOT_STRAPS.download },
      chip.efuse,
      new Spi1Controller(() => jedecIdFor(chip.flash.size)),
    );
  }

  /** Resets the chip into download mode (EN pulsed with IO0 low) and opens the session. */
  static async open(url: string, chip: VirtualEsp32): Promise<DirectBoardSession> {
    if (chip.state === 'off' || chip.state === 'dead') chip.powerOn();
    const latch = chip.options.strapLatchMs;
    chip.setSignals({ dtr: false, rts: true });
    await sleep(1);
    chip.setSignals({ dtr: true, rts: false });
    // IO0 is held low until the straps have latched; on a loaded host that timer can run late.
    for (let waited = 0; chip.state !== 'download' && waited < 5000; waited += latch) await sleep(latch);
    chip.setSignals({ dtr: false, rts: false });
    if (chip.state !== 'download') throw new Error(`bug: ${url} is ${chip.state} after the download-mode reset`);
    return new DirectBoardSession(url, chip);
  }

  /** As the ROM reads them: the crystal from UART_CLKDIV at 115200 baud, the flash id from RDID. */
  async chipFacts(): Promise<ChipFacts> {
    this.check();
    const efuseWords: number[] = [];
    for (let n = 0; n < ESP32.efuseBlk0Words; n++) efuseWords.push(this.bus.read(ESP32.reg.efuseBlk0 + 4 * n) >>> 0);
    const o = this.chip.options;
    const uartClkdiv = Math.round((o.xtalMhz * 1e6) / ESP32.romBaud);
    return decodeChipFacts({ efuseWords, apbCtlDate: REVISIONS[o.revision].apbCtlDate, uartClkdiv, clkdivBaud: ESP32.romBaud, jedecId: jedecIdFor(this.chip.flash.size) });
  }

  async readReg(address: number): Promise<number> {
    this.check();
    return this.bus.read(address) >>> 0;
  }

  async writeReg(address: number, value: number): Promise<void> {
    this.check();
    this.bus.write(address, value >>> 0);
  }

  async md5(address: number, length: number): Promise<string> {
    this.check();
    return md5Hex(this.chip.flash.read(address, length));
  }

  async readFlash(address: number, length: number): Promise<Uint8Array> {
    this.check();
    return this.chip.flash.read(address, length);
  }

  /** The same compare-write-verify as over the stub (write-regions.ts); a write erases its sectors first, as FLASH_DEFL_BEGIN does. */
  async writeRegions(regions: readonly WriteRegion[], opts: { onProgress?: (p: WriteProgress) => void } = {}): Promise<RegionResult[]> {
    this.check();
    checkRegions(regions, this.chip.flash.size);
    const flash = this.chip.flash;
    return writeRegions(
      {
        md5: async (address, length) => md5Hex(flash.read(address, length)),
        write: async (address, bytes, onDone) => {
          flash.eraseCovering(address, bytes.length);
          flash.program(address, bytes);
          onDone(bytes.length);
        },
      },
      regions,
      opts.onProgress,
    );
  }

  /** EN pulsed with IO0 high: the chip boots its app. */
  async hardReset(): Promise<void> {
    this.check();
    this.chip.setSignals({ dtr: false, rts: true });
    await sleep(1);
    this.chip.setSignals({ dtr: false, rts: false });
    await sleep(this.chip.options.strapLatchMs + 5);
    this.left = true;
  }

  async close(): Promise<void> {
    this.left = true;
  }

  private check(): void {
    if (this.left) throw new Error(`bug: ${this.url} used after the session ended`);
    if (this.chip.state !== 'download') throw new Error(`bug: ${this.url} left download mode (${this.chip.state}) during the session`);
  }
}

/** The one place the direct session stands in for a BoardSession (the pipeline's connect hook). */
export function asBoardSession(session: DirectBoardSession): BoardSession {
  return session as unknown as BoardSession;
}
