// A virtual ESP32 board: chip state (flash, eFuses) behind a UART with DTR/RTS wired like a dev
// board's auto-reset circuit (spec esp32-rom-efuse-crypto.md §1.13), the ROM loader in download
// mode, and a boot check at flash boot. Hosts drive it with bytes and modem lines only.
import { BOOT_STRAPS, REVISIONS, ROM_TEXT, jedecIdFor, opcodeName } from './targets/esp32.ts';
import { resolveOptions, initialEfuses, type PowerLossFault, type ResolvedOptions, type VirtualEsp32Options } from './chip-options.ts';
import { EfuseController } from './efuse-controller.ts';
import { NorFlash } from './nor-flash.ts';
import { RegisterBus } from './register-bus.ts';
import { Spi1Controller } from './spi1-controller.ts';
import { RomLoader, type LoaderDialect } from './rom-loader.ts';
import { SlipDecoder, slipEncode } from './slip.ts';
import type { LineFaults } from './uart-link.ts';
import { Uart0 } from './uart0.ts';
import { ResetCircuit, type Signals } from './reset-circuit.ts';
import { PowerFault } from './power-fault.ts';
import { appFlash, cpuFlashView, flashEncryptionEnabled, flashEncryptor } from './boot/flash-view.ts';
import { runBootSequence, type BootReport } from './boot/boot-sequence.ts';
import type { Clock, Firmware, FirmwareFlash, Network, StopReason } from './firmware-host.ts';
import { FirmwareSession } from './firmware-session.ts';
import { hostNetwork, systemClock } from './host-defaults.ts';

export type ChipState = 'off' | 'reset' | 'download' | 'stub' | 'app' | 'boot-failed' | 'halted' | 'faulted' | 'dead';

export type { Signals };


type Listener<T> = (value: T) => void;

export class VirtualEsp32 {
  readonly options: ResolvedOptions;
  readonly flash: NorFlash;
  readonly efuse: EfuseController;
  private firmwareImage: Firmware | undefined;
  private running: FirmwareSession | undefined;
  private readonly clock: Clock;
  private readonly network: Network;
  private readonly faultListeners = new Set<Listener<Error>>();
  private readonly unplugListeners = new Set<() => void>();
  /** Internal errors of the double (a bug, not a chip behaviour), in order. */
  readonly faults: Error[] = [];
  private readonly bus: RegisterBus;
  private readonly uart: Uart0;
  private readonly circuit: ResetCircuit;
  private readonly commitListeners = new Set<Listener<string>>();
  private readonly power: PowerFault;
  private loader: RomLoader | undefined;
  private slip: SlipDecoder;
  private console = '';
  private _state: ChipState = 'off';
  private lastProgramCount = 0;
  /** Every flasher stub started since creation, by name (the loader forgets at reset). */
  readonly stubsStarted: string[] = [];
  lastBoot: BootReport | undefined;
  /** Number of resets since creation (power-on counts), for tests. */
  resets = 0;

  constructor(opts: VirtualEsp32Options = {}, state?: { flash?: Uint8Array; efuse?: readonly (readonly number[])[] }) {
    this.options = resolveOptions(opts);
    this.clock = opts.clock ?? systemClock;
    this.network = opts.network ?? hostNetwork;
    this.firmwareImage = opts.firmware;
    this.flash = new NorFlash(this.options.flashSize, state?.flash);
    this.efuse = new EfuseController(state?.efuse ?? initialEfuses(this.options, opts));
    this.bus = new RegisterBus(
      {
        magic: this.options.chipMagic,
        apbCtlDate: REVISIONS[this.options.revision].apbCtlDate,
        xtalMhz: this.options.xtalMhz,
        baud: () => this.uart.chipBaud,
        // A running stub switches the APB clock to the 80 MHz PLL; the ROM runs from the crystal.
        apbMhz: () => (this.loader && this.loader.dialect !== 'rom' ? 80 : this.options.xtalMhz),
        strapping: () => (this._state === 'download' ? BOOT_STRAPS.download : BOOT_STRAPS.flash),
      },
      this.efuse,
      new Spi1Controller(() => jedecIdFor(this.flash.size)),
    );
    this.power = new PowerFault(opts.powerLoss);
    this.uart = new Uart0({ throttle: opts.throttle ?? false, faults: opts.lineFaults }, (b) => this.deliverToChip(b));
    this.circuit = new ResetCircuit(
      this.options.strapLatchMs,
      () => this.holdInReset(),
      (io0Low) => this.resetChip(io0Low ? 'download' : 'flash'),
    );
    this.slip = new SlipDecoder((f) => this.loader?.receiveFrame(f));
  }

  get state(): ChipState {
    if (this._state === 'download' && this.loader && this.loader.dialect !== 'rom') return 'stub';
    return this._state;
  }

  /** The running loader dialect (ROM or which stub), when in download mode. */
  get dialect(): LoaderDialect | undefined {
    return this.loader?.dialect;
  }

  get stubName(): string | undefined {
    return this.loader?.stubName;
  }

  /** Text the chip printed on UART0 since the last reset (ROM banner, boot log, app output). */
  bootLog(): string {
    return this.console;
  }

  /** Figures for benchmarks: bytes carried in each direction so far. */
  wireStats(): { hostToChip: number; chipToHost: number } {
    return this.uart.stats();
  }

  // ---- host side ---------------------------------------------------------------------

  /** Bytes from the host's TX line. */
  receive(bytes: Uint8Array): void {
    this.uart.fromHost(bytes);
  }

  /** Subscribes to the chip's TX line (what the host receives). */
  onTransmit(listener: Listener<Uint8Array>): () => void {
    return this.uart.onTransmit(listener);
  }

  /** Fires after every completed flash-changing command (name of the command). */
  onCommit(listener: Listener<string>): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  setBaudRate(baud: number): void {
    this.uart.hostBaud = baud;
  }

  /** DTR/RTS as the host's USB-serial bridge drives them (both lines in one call). */
  setSignals(next: Signals): void {
    this.circuit.set(next);
  }

  getSignals(): Signals {
    return this.circuit.get();
  }

  /**
   * For links that carry no baud rate (a raw TCP or pty bridge): the host side is taken to
   * follow every rate change the chip makes, so pacing still uses the agreed rate.
   */
  setHostFollowsChipBaud(on: boolean): void {
    this.uart.setHostFollowsChip(on);
  }

  setThrottle(on: boolean): void {
    this.uart.setThrottle(on);
  }

  setLineFaults(faults: LineFaults | undefined): void {
    this.uart.setFaults(faults);
  }

  /** Arms a power cut: after N more received bytes, or at the Nth occurrence of a command. */
  injectPowerLoss(fault: PowerLossFault): void {
    this.power.arm(fault);
  }

  /** Every injected power cut so far, e.g. "at FLASH_DEFL_DATA #4". */
  get powerCuts(): readonly string[] {
    return this.power.cuts;
  }

  /** Power applied (USB plugged in): the chip boots as the straps say. */
  powerOn(): void {
    if (this._state !== 'off' && this._state !== 'dead') return;
    this._state = 'reset';
    this.circuit.powerOn();
  }

  /** Power removed: everything volatile is lost, flash and eFuses stay. */
  powerOff(): void {
    this.stopRunning('power-off');
    this._state = 'off';
  }

  /** The USB cable is pulled: the board loses power and its serial port disappears. */
  unplug(): void {
    this.powerOff();
    this.unplugListeners.forEach((l) => l());
  }

  /** Fires when the cable is pulled (the in-process transport reports a vanished port). */
  onUnplug(listener: () => void): () => void {
    this.unplugListeners.add(listener);
    return () => this.unplugListeners.delete(listener);
  }

  /** Resolves when queued commands are processed (for tests and state saving). */
  async idle(): Promise<void> {
    await this.loader?.idle();
  }

  // ---- reset and boot ----------------------------------------------------------------

  private holdInReset(): void {
    if (this._state === 'off') return;
    this.stopRunning('reset');
    // EN low is a full reset: a chip that browned out comes back on the next release.
    this._state = 'reset';
  }

  private stopRunning(reason: StopReason): void {
    this.loader?.stop();
    this.loader = undefined;
    this.slip.reset();
    this.uart.clear();
    const running = this.running;
    this.running = undefined;
    running?.stop(reason);
  }

  /** A chip reset: volatile state goes, eFuses reload, the ROM runs with the given boot mode. */
  private resetChip(mode: 'download' | 'flash', reason: StopReason = 'reset'): void {
    if (this._state === 'off') return;
    this.stopRunning(reason);
    this.resets++;
    this.efuse.powerOn();
    this.bus.powerOn();
    this.uart.reset(mode === 'download');
    this.console = '';
    const banner = REVISIONS[this.options.revision].romBanner;
    if (mode === 'download') {
      this.print(`${banner}\r\n\r\n${ROM_TEXT.powerOnReset},${ROM_TEXT.downloadBoot}\r\n${ROM_TEXT.waiting}\r\n`);
      this._state = 'download';
      this.loader = this.newLoader();
      return;
    }
    const cause = reason === 'restart' ? ROM_TEXT.softwareReset : ROM_TEXT.powerOnReset;
    this.print(`${banner}\r\n\r\n${cause},${ROM_TEXT.flashBoot}\r\n`);
    this.bootFromFlash();
  }

  private bootFromFlash(): void {
    const view = cpuFlashView(this.flash, this.efuse);
    const report = runBootSequence(view, this.efuse);
    this.lastBoot = report;
    for (const line of report.lines) this.print(`${line}\r\n`);
    if (!report.ok || !report.slot) {
      this._state = 'boot-failed';
      return;
    }
    this._state = 'app';
    const firmware = this.firmwareImage;
    if (!firmware) return;
    const session = new FirmwareSession({
      slot: report.slot,
      mac: this.options.mac.slice(),
      flash: this.committingFlash(appFlash(this.flash, this.efuse)),
      clock: this.clock,
      network: this.network,
      print: (t) => this.print(t),
      restart: () => queueMicrotask(() => this.resetChip('flash', 'restart')),
      fault: (e) => this.fault(e),
    });
    this.running = session;
    session.guard(() => firmware.start(session));
  }

  /**
   * App flash writes count as commits too, so a served board saves what its firmware wrote.
   * Named `APP_FLASH_WRITE 0x<offset>` / `APP_FLASH_ERASE 0x<offset>`: a test can cut the power
   * inside one partition's writes.
   */
  private committingFlash(flash: FirmwareFlash): FirmwareFlash {
    const committed = (what: string) => this.commitListeners.forEach((l) => l(what));
    return {
      ...flash,
      read: (o, l) => flash.read(o, l),
      write: (o, d) => (flash.write(o, d), committed(`APP_FLASH_WRITE 0x${o.toString(16)}`)),
      writeRaw: (o, d) => (flash.writeRaw(o, d), committed(`APP_FLASH_WRITE 0x${o.toString(16)}`)),
      erase: (o, l) => (flash.erase(o, l), committed(`APP_FLASH_ERASE 0x${o.toString(16)}`)),
    };
  }

  // ---- firmware and faults -----------------------------------------------------------

  /** Installs the firmware double that runs whenever a flash boot passes the boot check. */
  attachFirmware(firmware: Firmware | undefined): void {
    this.firmwareImage = firmware;
  }

  /** The firmware run in progress (state `app`), for tests that inspect what it holds. */
  get firmwareSession(): FirmwareSession | undefined {
    return this.running;
  }

  /** Fires when the double hits an internal error; with no listener the error is rethrown. */
  onFault(listener: Listener<Error>): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  /**
   * An internal error of the double: the chip halts with a panic line, as a real chip's
   * Guru Meditation does, and the error reaches fault listeners — or, with none attached,
   * surfaces as an uncaught error, so a test fails loudly instead of timing out.
   */
  fault(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    this.faults.push(e);
    this.print(`\r\nGuru Meditation Error: virtual ESP32 fault: ${e.message}\r\n`);
    this.stopRunning('fault');
    this._state = 'faulted';
    if (this.faultListeners.size === 0) {
      queueMicrotask(() => {
        throw e;
      });
      return;
    }
    this.faultListeners.forEach((l) => l(e));
  }

  // ---- UART plumbing -----------------------------------------------------------------

  private print(text: string | Uint8Array): void {
    const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
    if (typeof text === 'string') this.console = (this.console + text).slice(-65536);
    this.emit(bytes);
  }

  private emit(bytes: Uint8Array): void {
    this.uart.toHost(bytes);
  }

  private deliverToChip(bytes: Uint8Array): void {
    if (this._state !== 'download' && this._state !== 'app') return;
    const allowed = this.power.bytesArrive(bytes.length);
    if (allowed === undefined) return this.feed(bytes);
    this.feed(bytes.subarray(0, allowed));
    // Let the bytes that made it in finish their command, then cut the power.
    void (this.loader?.idle() ?? Promise.resolve()).then(() => this.losePower(`after ${this.power.cutAt()} received bytes`));
  }

  private feed(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this._state === 'app') {
      this.running?.deliver(bytes);
      return;
    }
    this.slip.push(bytes);
  }

  private losePower(why: string): void {
    this.power.fired(why);
    this.stopRunning('power-loss');
    this._state = 'dead';
    this.console += `\r\n[power lost ${why}]\r\n`;
  }

  private newLoader(): RomLoader {
    const loader: RomLoader = new RomLoader({
      flash: this.flash,
      bus: this.bus,
      send: (packet) => {
        if (this.loader === loader) this.emit(slipEncode(packet));
      },
      changeBaud: (baud) => {
        // The reply is already queued at the old rate; later bytes use the new one.
        this.uart.setChipBaud(baud);
      },
      reboot: () => this.resetChip('flash'),
      runUserCode: () => {
        this.stopRunning('reset');
        this.bootFromFlash();
      },
      stubStarted: (name) => this.stubsStarted.push(name),
      runUnknownCode: () => {
        this.stopRunning('reset');
        this._state = 'halted';
      },
      fault: (e) => this.fault(e),
      encryptor: () => (this.efuse.hardwareField('DISABLE_DL_ENCRYPT') ? undefined : flashEncryptor(this.efuse)),
      committed: (op) => {
        if (op === 0x09 /* WRITE_REG */) {
          if (this.efuse.programCount === this.lastProgramCount) return;
          this.lastProgramCount = this.efuse.programCount;
          this.commitListeners.forEach((l) => l('EFUSE_PGM'));
          return;
        }
        this.commitListeners.forEach((l) => l(opcodeName(op)));
      },
      beforeCommand: (op) => {
        if (op === 0x08 /* SYNC */) this.uart.autobaud = false;
        const cut = this.power.commandArrives(opcodeName(op));
        if (cut) this.losePower(cut);
        return cut === undefined;
      },
    });
    return loader;
  }

  /** True when FLASH_CRYPT_CNT has an odd number of bits (reads decrypt at boot). */
  flashEncryptionEnabled(): boolean {
    return flashEncryptionEnabled(this.efuse);
  }
}
