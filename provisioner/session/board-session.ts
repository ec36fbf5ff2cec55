// A session with one ESP32 in its ROM download mode (DESIGN.md "Board session"; spec
// esp32-rom-efuse-crypto.md §2 facts, §1.9–§1.11 stub and flash commands). Every
// operation runs through `run`, which turns a vanished port or a silent board into one
// SessionError. Connecting lives in open-board-session.ts.
import { ESPError, type ESPLoader } from 'esptool-js';
import { EspfleetError } from '../../firmware-js/errors.ts';
import type { Transport } from '../transport/transport.ts';
import { decodeChipFacts, type ChipFacts, type RawChipReadings } from './chip-facts.ts';
import { hex32, sessionError, SessionError } from './errors.ts';
import { flashMd5, readFlashRom, readFlashStub, writeCompressed } from './flash-commands.ts';
import { hardReset } from './resets.ts';
import { ESP32, flashSizeFromJedec } from './targets/esp32.ts';
import { checkRegions, writeRegions, type RegionResult, type WriteProgress, type WriteRegion } from './write-regions.ts';

export class BoardSession {
  private closing = false;
  private vanished: Error | undefined;
  private readonly vanishedSignal: Promise<never>;
  private rejectVanished: (e: Error) => void = () => {};
  private left = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly transport: Transport,
    private readonly loader: ESPLoader,
    private readonly raw: Omit<RawChipReadings, 'efuseWords'>,
  ) {
    this.vanishedSignal = new Promise<never>((_, reject) => (this.rejectVanished = reject));
    this.vanishedSignal.catch(() => {});
    transport.onClose((reason) => {
      if (this.closing) return;
      this.vanished = reason ?? new Error('closed by the other side');
      this.rejectVanished(this.vanishedError());
    });
  }

  get url(): string {
    return this.transport.info.url;
  }

  /** True once the flasher stub runs (2 status bytes, raw MD5, READ_FLASH). */
  get stubRunning(): boolean {
    return this.loader.IS_STUB;
  }

  async chipFacts(): Promise<ChipFacts> {
    return this.run('reading the chip facts', async () => {
      const efuseWords: number[] = [];
      for (let n = 0; n < ESP32.efuseBlk0Words; n++) efuseWords.push((await this.loader.readReg(ESP32.reg.efuseBlk0 + 4 * n)) >>> 0);
      return decodeChipFacts({ ...this.raw, efuseWords });
    });
  }

  /** READ_REG (ROM or stub); eFuse reading and programming build on it (efuse-programmer.ts). */
  async readReg(address: number): Promise<number> {
    return this.run(`reading register ${hex32(address)}`, async () => (await this.loader.readReg(address)) >>> 0);
  }

  /** WRITE_REG with a full mask: the whole register is replaced. */
  async writeReg(address: number, value: number): Promise<void> {
    await this.run(`writing register ${hex32(address)}`, () => this.loader.writeReg(address, value >>> 0));
  }

  async md5(address: number, length: number): Promise<string> {
    return this.run(`MD5 of ${hex32(address)}+${length}`, () => flashMd5(this.loader, address, length));
  }

  async readFlash(address: number, length: number, onProgress?: (done: number, total: number) => void): Promise<Uint8Array> {
    return this.run(`reading ${length} bytes at ${hex32(address)}`, () =>
      this.loader.IS_STUB ? readFlashStub(this.loader, address, length, onProgress) : readFlashRom(this.loader, address, length, onProgress),
    );
  }

  async writeRegions(regions: readonly WriteRegion[], opts: { onProgress?: (p: WriteProgress) => void } = {}): Promise<RegionResult[]> {
    // Writing through the ROM is not offered: esptool-js sends a 5th FLASH_BEGIN word and
    // 16 KiB blocks to it, both [U] for the ESP32 ROM (spec §1.7), and the stub is faster.
    if (!this.loader.IS_STUB) {
      throw sessionError('session.needs_stub', 'writing flash needs the flasher stub, and this session runs without it', { hint: 'open the session with stub: true' });
    }
    checkRegions(regions, flashSizeFromJedec(this.raw.jedecId));
    const ops = {
      md5: (address: number, length: number) => flashMd5(this.loader, address, length),
      write: (address: number, bytes: Uint8Array, onDone: (done: number) => void) => writeCompressed(this.loader, address, bytes, onDone),
    };
    return this.run('writing flash', () => writeRegions(ops, regions, opts.onProgress));
  }

  /** Resets the board into its app (EN pulsed, IO0 high); the session is done with the loader then. */
  async hardReset(): Promise<void> {
    await this.run('resetting the board', () => hardReset(this.loader.transport));
    this.left = true;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    try {
      await Promise.race([this.loader.transport.disconnect(), new Promise((r) => setTimeout(r, 500))]);
    } catch {
      // the port may already be gone; closing is best effort
    }
    await this.transport.close().catch(() => {});
  }

  /**
   * Runs one operation after the ones before it (the loader speaks one command at a
   * time); a vanished port or a silent board becomes one clear SessionError.
   */
  private run<T>(what: string, op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(() => this.runNow(what, op));
    this.queue = result.catch(() => {});
    return result;
  }

  private async runNow<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.closing) throw sessionError('session.closed', `the session with ${this.url} is closed`, { hint: 'open a new session' });
    if (this.vanished) throw this.vanishedError();
    if (this.left) throw sessionError('session.closed', `the board on ${this.url} was reset out of the loader`, { hint: 'open a new session' });
    const pending = op();
    pending.catch(() => {}); // still settles after a vanish; nobody waits for it then
    try {
      return await Promise.race([pending, this.vanishedSignal]);
    } catch (e) {
      throw this.explain(e, what);
    }
  }

  private vanishedError(): SessionError {
    return sessionError('session.port_vanished', `${this.url} went away: ${this.vanished?.message ?? 'closed'}`, {
      hint: 'check the cable or the network link, then run the command again; flashing starts where it left off',
      cause: this.vanished,
    });
  }

  private explain(e: unknown, what: string): unknown {
    if (this.vanished) return this.vanishedError();
    if (e instanceof SessionError) return e;
    // A write that fails on the wire before the close event arrives is the same vanish.
    if (e instanceof EspfleetError && /^transport\.(closed|write_failed|vanished)$/.test(e.code)) {
      this.vanished = e;
      return this.vanishedError();
    }
    if (e instanceof EspfleetError) return e;
    const message = e instanceof Error ? e.message : String(e);
    if (/no serial data|data stream stopped|timeout|timed out/i.test(message)) {
      return sessionError('session.no_response', `the board on ${this.url} stopped answering while ${what}`, {
        hint: 'it may have reset or lost power; run the command again (finished sectors are skipped)',
        cause: e,
      });
    }
    if (e instanceof ESPError) return sessionError('session.command_failed', `${what} on ${this.url} failed: ${message}`, { cause: e });
    return e;
  }
}

