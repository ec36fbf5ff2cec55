// A clock that moves only when a test says so: certificate expiries, OTA commit timeouts
// and rollout waves can be stepped exactly instead of waited for.
import type { Clock } from './firmware-host.ts';

interface Pending {
  due: number;
  seq: number;
  callback: () => void;
}

export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { due: this.current + Math.max(0, ms), seq: id, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Timers not yet fired or cleared. */
  get timersPending(): number {
    return this.pending.size;
  }

  /** Moves time forward, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: [number, Pending] | undefined;
      for (const entry of this.pending) {
        if (entry[1].due <= target && (!next || entry[1].due < next[1].due || (entry[1].due === next[1].due && entry[1].seq < next[1].seq))) next = entry;
      }
      if (!next) break;
      this.pending.delete(next[0]);
      this.current = Math.max(this.current, next[1].due);
      next[1].callback();
    }
    this.current = target;
  }
}
