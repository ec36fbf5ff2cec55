// Reset sequences into the ROM download mode and back to the app (spec
// esp32-rom-efuse-crypto.md §1.13). Every step sets DTR and RTS together through
// esptool-js's two-line `setSignals`, which the WebSerialAdapter turns into ONE
// transport.setSignals call — separate calls break timing on some USB bridges.
import { ClassicReset, type Transport as EsptoolTransport } from 'esptool-js';

export type ResetMode = 'classic' | 'tight' | 'none';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * esptool's UnixTightReset: both lines move at once at every step, so the board never
 * sees the (DTR=1, RTS=1) "run" state in between; the first (1,1) is the idle
 * state a tty shows after open on some drivers.
 */
export class TightReset extends ClassicReset {
  override async reset(): Promise<void> {
    const t = this.transport;
    await t.setSignals(false, false);
    await t.setSignals(true, true);
    await t.setSignals(false, true); // EN low: chip held in reset
    await sleep(100);
    await t.setSignals(true, false); // EN released with IO0 low: download mode latched
    await sleep(this.resetDelay);
    await t.setSignals(false, false);
  }
}

/** esptool-js's reset hook: both strategies are handed the delay (50 ms, then 550 ms on retries). */
export function resetConstructorFor(mode: ResetMode): ((t: EsptoolTransport, delay: number) => ClassicReset) | undefined {
  if (mode === 'tight') return (t, delay) => new TightReset(t, delay);
  if (mode === 'classic') return (t, delay) => new ClassicReset(t, delay);
  return undefined;
}

/** Hard reset into the app: EN pulsed low with IO0 left high (DTR released). */
export async function hardReset(t: EsptoolTransport): Promise<void> {
  await t.setSignals(false, true);
  await sleep(100);
  await t.setSignals(false, false);
}
