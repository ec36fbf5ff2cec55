// The dev-board auto-reset circuit (spec esp32-rom-efuse-crypto.md §1.13): RTS asserted pulls EN
// low and DTR asserted pulls IO0 low, each only while the other line is not asserted (both
// asserted = no reset). EN rises through an RC delay; the straps are latched when it settles.

export interface Signals {
  dtr: boolean;
  rts: boolean;
}

export class ResetCircuit {
  private signals: Signals = { dtr: false, rts: false };
  private latchTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly latchMs: number,
    /** EN went low: the chip is held in reset. */
    private readonly onHold: () => void,
    /** EN settled high: the chip starts, in download mode when IO0 was low. */
    private readonly onLatch: (io0Low: boolean) => void,
  ) {}

  get(): Signals {
    return { ...this.signals };
  }

  enHigh(): boolean {
    return !(this.signals.rts && !this.signals.dtr);
  }

  io0Low(): boolean {
    return this.signals.dtr && !this.signals.rts;
  }

  set(next: Signals): void {
    const wasHigh = this.enHigh();
    this.signals = { ...next };
    const high = this.enHigh();
    if (wasHigh && !high) {
      this.cancel();
      this.onHold();
    } else if (!wasHigh && high) {
      // A momentary (1,1) between two separate line writes must not decide the boot mode,
      // so the straps are sampled only once EN has stayed high for the RC delay.
      this.cancel();
      this.latchTimer = setTimeout(() => {
        this.latchTimer = undefined;
        if (this.enHigh()) this.onLatch(this.io0Low());
      }, this.latchMs);
    }
  }

  /** Power applied with EN already released: the chip starts right away. */
  powerOn(): void {
    if (this.enHigh()) this.onLatch(this.io0Low());
  }

  cancel(): void {
    if (this.latchTimer) clearTimeout(this.latchTimer);
    this.latchTimer = undefined;
  }
}
