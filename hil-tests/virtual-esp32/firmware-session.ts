// One run of firmware on the virtual ESP32, from boot to reset: implements FirmwareHost and
// keeps every timer, socket and handle it gave out, so stopping the run closes them all.
import type { Duplex } from 'node:stream';
import type { BootSlot } from './boot/boot-sequence.ts';
import type { Clock, Disposable, FirmwareFlash, FirmwareHost, Network, StopReason } from './firmware-host.ts';
import { SimError } from './errors.ts';

export interface FirmwareSessionEnv {
  slot: BootSlot;
  mac: Uint8Array;
  flash: FirmwareFlash;
  clock: Clock;
  network: Network;
  print(text: string | Uint8Array): void;
  restart(): void;
  fault(error: unknown): void;
}

export class FirmwareSession implements FirmwareHost {
  readonly slot: BootSlot;
  readonly mac: Uint8Array;
  readonly flash: FirmwareFlash;
  private readonly abort = new AbortController();
  private readonly timers = new Map<number, unknown>();
  private readonly resources = new Set<Disposable>();
  private readonly stopListeners: Array<(reason: StopReason) => void> = [];
  private readonly receivers = new Set<(bytes: Uint8Array) => void>();
  private readonly startedAt: number;
  private nextTimer = 1;

  constructor(private readonly env: FirmwareSessionEnv) {
    this.slot = env.slot;
    this.mac = env.mac;
    this.flash = guardedFlash(env.flash, () => this.alive);
    this.startedAt = env.clock.now();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get alive(): boolean {
    return !this.abort.signal.aborted;
  }

  print(text: string | Uint8Array): void {
    if (this.alive) this.env.print(text);
  }

  onReceive(listener: (bytes: Uint8Array) => void): () => void {
    this.receivers.add(listener);
    return () => void this.receivers.delete(listener);
  }

  /** Bytes from the host's TX line while this firmware runs. */
  deliver(bytes: Uint8Array): void {
    for (const l of [...this.receivers]) this.guard(() => l(bytes));
  }

  uptimeMs(): number {
    return this.env.clock.now() - this.startedAt;
  }

  now(): number {
    return this.env.clock.now();
  }

  setTimeout(callback: () => void, ms: number): number {
    const id = this.nextTimer++;
    if (!this.alive) return id;
    this.timers.set(
      id,
      this.env.clock.setTimeout(() => {
        this.timers.delete(id);
        this.guard(callback);
      }, ms),
    );
    return id;
  }

  setInterval(callback: () => void, ms: number): number {
    const id = this.nextTimer++;
    const arm = () => {
      if (!this.alive) return;
      this.timers.set(
        id,
        this.env.clock.setTimeout(() => {
          arm();
          this.guard(callback);
        }, ms),
      );
    };
    arm();
    return id;
  }

  clearTimer(id: number): void {
    const handle = this.timers.get(id);
    if (handle === undefined) return;
    this.env.clock.clearTimeout(handle);
    this.timers.delete(id);
  }

  connect(options: { host: string; port: number }): Duplex {
    if (!this.alive) throw new SimError('sim.firmware.stopped', `connect to ${options.host}:${options.port} after the firmware stopped`);
    const socket = this.env.network.connect(options);
    const owned = { dispose: () => socket.destroy() };
    this.resources.add(owned);
    socket.once('close', () => this.resources.delete(owned));
    return socket;
  }

  own(resource: Disposable): void {
    if (this.alive) this.resources.add(resource);
    else resource.dispose();
  }

  onStop(listener: (reason: StopReason) => void): void {
    this.stopListeners.push(listener);
  }

  restart(): void {
    if (this.alive) this.env.restart();
  }

  fault(error: unknown): void {
    if (this.alive) this.env.fault(error);
  }

  /** Runs firmware code; anything it throws is a chip fault, never a silent hang. */
  guard(fn: () => unknown): void {
    if (!this.alive) return;
    try {
      const r = fn();
      if (r instanceof Promise) r.catch((e: unknown) => this.fault(e));
    } catch (e) {
      this.fault(e);
    }
  }

  /** Ends the run: listeners hear why, then every timer, socket and handle is closed. */
  stop(reason: StopReason): void {
    if (!this.alive) return;
    this.abort.abort(new SimError('sim.firmware.stopped', `firmware stopped (${reason})`));
    for (const l of this.stopListeners.splice(0)) {
      try {
        l(reason);
      } catch {
        // The chip is going down; a listener's failure cannot change that.
      }
    }
    for (const handle of this.timers.values()) this.env.clock.clearTimeout(handle);
    this.timers.clear();
    for (const r of [...this.resources]) {
      try {
        r.dispose();
      } catch {
        // Same: the handle is gone with the power either way.
      }
    }
    this.resources.clear();
    this.receivers.clear();
  }

  /** What is still open, for tests that check a stop left nothing behind. */
  openHandles(): { timers: number; resources: number } {
    return { timers: this.timers.size, resources: this.resources.size };
  }
}

/** Refuses flash access once the run is over: a stopped CPU writes nothing. */
function guardedFlash(flash: FirmwareFlash, alive: () => boolean): FirmwareFlash {
  const check = (what: string) => {
    if (!alive()) throw new SimError('sim.firmware.stopped', `flash ${what} after the firmware stopped`);
  };
  return {
    size: flash.size,
    encrypted: flash.encrypted,
    read: (o, l) => (check('read'), flash.read(o, l)),
    readRaw: (o, l) => (check('read'), flash.readRaw(o, l)),
    write: (o, d) => (check('write'), flash.write(o, d)),
    writeRaw: (o, d) => (check('write'), flash.writeRaw(o, d)),
    erase: (o, l) => (check('erase'), flash.erase(o, l)),
  };
}
