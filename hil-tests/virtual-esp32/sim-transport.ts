// The in-process wire to a virtual board for `sim://name` URLs: a host-side Transport
// (provisioner/transport/transport.ts) over a VirtualEsp32, held to the same contract and
// error codes as a USB port: one opener at a time, nothing delivered after close, a pulled
// cable reported as a vanished port.
import { registerSimBoard as registerSimTransportFactory } from '../../provisioner/transport/open-transport.ts';
import { transportBusy, transportClosed, transportNotOpen, transportVanished, type TransportError } from '../../provisioner/transport/errors.ts';
import { ListenerSet } from '../../provisioner/transport/listeners.ts';
import type { SerialSignals, Transport, TransportInfo, Unsubscribe } from '../../provisioner/transport/transport.ts';
import type { VirtualEsp32 } from './virtual-esp32.ts';

/**
 * Makes a board reachable as `sim://<name>` through the provisioner's transport
 * factory, so every espfleet command in this process can open it like a port.
 */
export function registerSimBoard(name: string, chip: VirtualEsp32): Unsubscribe {
  return registerSimTransportFactory(name, (_name, url) => new SimTransport(chip, url));
}

/** Which transport holds each board's UART, like a tty's exclusive lock. */
const holders = new WeakMap<VirtualEsp32, SimTransport>();

export class SimTransport implements Transport {
  readonly info: TransportInfo;
  private opened = false;
  private attached: Array<() => void> = [];
  private writing: Promise<void> = Promise.resolve();
  private readonly dataListeners = new ListenerSet<Uint8Array>();
  private readonly closeListeners = new ListenerSet<Error | undefined>();

  constructor(readonly chip: VirtualEsp32, url = `sim://${chip.options.name}`) {
    this.info = { url, kind: 'sim' };
  }

  private get isOpen(): boolean {
    return this.attached.length > 0;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    const holder = holders.get(this.chip);
    if (holder && holder !== this) throw transportBusy(this.info.url, 'another transport in this process');
    holders.set(this.chip, this);
    this.opened = true;
    this.attached = [
      this.chip.onTransmit((bytes) => this.dataListeners.emit(bytes.slice())),
      this.chip.onUnplug(() => this.end(transportVanished(this.info.url, 'the virtual board was unplugged'))),
    ];
  }

  async close(): Promise<void> {
    this.end(undefined);
  }

  write(data: Uint8Array): Promise<void> {
    if (!this.isOpen) return Promise.reject(this.notUsable());
    const copy = Uint8Array.from(data);
    const done = this.writing.then(() => {
      if (!this.isOpen) throw this.notUsable();
      this.chip.receive(copy);
    });
    // A failed write must not poison the ones queued after it.
    this.writing = done.catch(() => undefined);
    return done;
  }

  async setBaudRate(baud: number): Promise<void> {
    this.requireOpen();
    this.chip.setBaudRate(baud);
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    this.requireOpen();
    this.chip.setSignals(signals);
  }

  onData(listener: (chunk: Uint8Array) => void): Unsubscribe {
    return this.dataListeners.add(listener);
  }

  onClose(listener: (reason?: Error) => void): Unsubscribe {
    return this.closeListeners.add(listener);
  }

  private end(reason: TransportError | undefined): void {
    if (!this.isOpen) return;
    for (const detach of this.attached.splice(0)) detach();
    if (holders.get(this.chip) === this) holders.delete(this.chip);
    this.closeListeners.emit(reason);
    this.closeListeners.clear();
  }

  private requireOpen(): void {
    if (!this.isOpen) throw this.notUsable();
  }

  private notUsable(): TransportError {
    return this.opened ? transportClosed(this.info.url) : transportNotOpen(this.info.url);
  }
}
