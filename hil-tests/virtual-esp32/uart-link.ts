// The wire between a host and the virtual chip's UART0: optional pacing at the current baud
// (bytes/s = baud/10, 8N1), baud mismatch garbling, and seeded byte drops / corruption.
// Both directions go through one ordered queue each, so bytes never overtake each other.
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';

export interface LineFaults {
  /** Probability that a byte is lost on the wire (each direction). */
  dropRate?: number;
  /** Probability that a byte arrives with one bit flipped. */
  corruptRate?: number;
  seed?: number;
}

export interface LinkOptions {
  throttle: boolean;
  faults?: LineFaults;
}

interface Pending {
  bytes: Uint8Array;
  readyAt: number;
}

/** One direction of the wire. */
export class PacedChannel {
  private queue: Pending[] = [];
  private busyUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Total bytes that went over this direction, for throughput figures. */
  bytesCarried = 0;

  constructor(
    private readonly deliver: (bytes: Uint8Array) => void,
    private readonly paced: () => number | undefined,
  ) {}

  /** Queues bytes; with pacing they arrive after the time their bits take on the wire. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.bytesCarried += bytes.length;
    const bytesPerSecond = this.paced();
    if (bytesPerSecond === undefined && this.queue.length === 0) {
      this.deliver(bytes);
      return;
    }
    const rate = bytesPerSecond ?? Infinity;
    // Split big writes so the far end sees data trickle in as on a real line.
    const piece = 512;
    const now = performance.now();
    let at = Math.max(now, this.busyUntil);
    for (let i = 0; i < bytes.length; i += piece) {
      const part = bytes.subarray(i, Math.min(bytes.length, i + piece));
      at += (part.length * 1000) / rate;
      this.queue.push({ bytes: part, readyAt: at });
    }
    this.busyUntil = at;
    this.schedule();
  }

  /** Drops everything not yet delivered (power loss, PURGE-DATA). */
  clear(): void {
    this.queue = [];
    this.busyUntil = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const head = this.queue[0] as Pending;
    const wait = Math.max(0, head.readyAt - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      // Deliver everything that is due in one go (timers are coarser than bytes).
      const due: Uint8Array[] = [];
      while (this.queue.length && (this.queue[0] as Pending).readyAt <= now + 0.5) due.push((this.queue.shift() as Pending).bytes);
      if (due.length) this.deliver(concat(due));
      this.schedule();
    }, wait);
  }
}

/** Applies seeded drop/corrupt faults to bytes crossing the wire. */
export class FaultyLine {
  private readonly rng: SeededRandom;

  constructor(private readonly faults: LineFaults) {
    this.rng = new SeededRandom(faults.seed ?? 1);
  }

  apply(bytes: Uint8Array): Uint8Array {
    const drop = this.faults.dropRate ?? 0;
    const corrupt = this.faults.corruptRate ?? 0;
    if (drop === 0 && corrupt === 0) return bytes;
    const out: number[] = [];
    for (const b of bytes) {
      if (drop && this.rng.nextU32() / 2 ** 32 < drop) continue;
      out.push(corrupt && this.rng.nextU32() / 2 ** 32 < corrupt ? b ^ (1 << this.rng.int(0, 7)) : b);
    }
    return Uint8Array.from(out);
  }
}

/** What a receiver sampling at the wrong baud makes of the bytes: framing garbage. */
export function garble(bytes: Uint8Array, hostBaud: number, chipBaud: number): Uint8Array {
  const ratio = hostBaud / chipBaud;
  const n = Math.max(1, Math.round(bytes.length / ratio));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = ((bytes[Math.min(bytes.length - 1, Math.floor(i * ratio))] ?? 0) * 7 + 0x5b) & 0xfe;
  return out;
}

/** True when two baud rates are within the ±3 % a UART tolerates. */
export function baudMatches(a: number, b: number): boolean {
  return Math.abs(a - b) / b <= 0.03;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
