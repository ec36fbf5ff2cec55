// UART0 of the virtual chip and the wire to the host (spec esp32-rom-efuse-crypto.md §1.13):
// host and chip baud rates (the ROM auto-bauds on SYNC, CHANGE_BAUDRATE moves the chip), bytes
// garbled when they disagree, optional pacing at baud/10 bytes per second, seeded line faults.
import { ROM_BAUD } from './targets/esp32.ts';
import { FaultyLine, PacedChannel, baudMatches, garble, type LineFaults } from './uart-link.ts';

export class Uart0 {
  hostBaud = ROM_BAUD;
  chipBaud = ROM_BAUD;
  /** The ROM measures the host's rate from the SYNC's 0x55 run until the first SYNC. */
  autobaud = false;
  private hostFollowsChip = false;
  private throttle: boolean;
  private faults: FaultyLine | undefined;
  private readonly rx: PacedChannel;
  private readonly tx: PacedChannel;
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();

  constructor(opts: { throttle: boolean; faults?: LineFaults }, toChip: (bytes: Uint8Array) => void) {
    this.throttle = opts.throttle;
    if (opts.faults) this.faults = new FaultyLine(opts.faults);
    const pace = (baud: () => number) => () => (this.throttle ? baud() / 10 : undefined);
    this.rx = new PacedChannel((b) => toChip(this.fromHostRate(b)), pace(() => this.hostBaud));
    this.tx = new PacedChannel((b) => this.listeners.forEach((l) => l(b)), pace(() => this.chipBaud));
  }

  /** Bytes on the host's TX line. */
  fromHost(bytes: Uint8Array): void {
    this.rx.push(this.faults ? this.faults.apply(bytes) : bytes);
  }

  /** Bytes the chip transmits. */
  toHost(bytes: Uint8Array): void {
    let b = bytes;
    if (!baudMatches(this.hostBaud, this.chipBaud)) b = garble(b, this.chipBaud, this.hostBaud);
    if (this.faults) b = this.faults.apply(b);
    this.tx.push(b);
  }

  onTransmit(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setChipBaud(baud: number): void {
    this.chipBaud = baud;
    if (this.hostFollowsChip) this.hostBaud = baud;
  }

  /** For links that carry no baud rate (raw TCP, pty bridge): the host follows the chip. */
  setHostFollowsChip(on: boolean): void {
    this.hostFollowsChip = on;
    if (on) this.hostBaud = this.chipBaud;
  }

  setThrottle(on: boolean): void {
    this.throttle = on;
  }

  setFaults(faults: LineFaults | undefined): void {
    this.faults = faults ? new FaultyLine(faults) : undefined;
  }

  /** Chip reset: the ROM starts at 115200 and drops whatever was in flight. */
  reset(autobaud: boolean): void {
    this.clear();
    this.setChipBaud(ROM_BAUD);
    this.autobaud = autobaud;
  }

  clear(): void {
    this.rx.clear();
    this.tx.clear();
  }

  stats(): { hostToChip: number; chipToHost: number } {
    return { hostToChip: this.rx.bytesCarried, chipToHost: this.tx.bytesCarried };
  }

  private fromHostRate(bytes: Uint8Array): Uint8Array {
    if (this.autobaud) {
      this.chipBaud = this.hostBaud;
      return bytes;
    }
    return baudMatches(this.hostBaud, this.chipBaud) ? bytes : garble(bytes, this.hostBaud, this.chipBaud);
  }
}
