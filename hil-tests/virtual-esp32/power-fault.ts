// Injected power cuts for the virtual ESP32: after N bytes received, or when the Nth command of
// a given name arrives. Flash keeps what was programmed so far; the chip is silent afterwards.
import type { PowerLossFault } from './chip-options.ts';

export class PowerFault {
  private armed: PowerLossFault | undefined;
  private readonly counts = new Map<string, number>();
  private received = 0;
  /** Every cut so far, e.g. "at FLASH_DEFL_DATA #4". */
  readonly cuts: string[] = [];

  constructor(initial?: PowerLossFault) {
    this.armed = initial;
  }

  /** Arms a cut; a byte count is relative to now. */
  arm(fault: PowerLossFault): void {
    this.armed = { ...fault, afterRxBytes: fault.afterRxBytes === undefined ? undefined : this.received + fault.afterRxBytes };
    this.counts.clear();
  }

  /** Accounts for arriving bytes; returns how many get in before the cut, or undefined for all. */
  bytesArrive(n: number): number | undefined {
    const cut = this.armed?.afterRxBytes;
    if (cut === undefined || this.received + n < cut) {
      this.received += n;
      return undefined;
    }
    const allowed = Math.max(0, cut - this.received);
    this.received = cut;
    return allowed;
  }

  /** Returns the reason when power goes at this command. */
  commandArrives(name: string): string | undefined {
    if (!this.armed?.atCommand || this.armed.atCommand !== name) return undefined;
    const n = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, n);
    return n >= (this.armed.occurrence ?? 1) ? `at ${name} #${n}` : undefined;
  }

  /** The byte count at which the armed byte cut fires. */
  cutAt(): number {
    return this.armed?.afterRxBytes ?? this.received;
  }

  fired(why: string): void {
    this.armed = undefined;
    this.cuts.push(why);
  }
}
