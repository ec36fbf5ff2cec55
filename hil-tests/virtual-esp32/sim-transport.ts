// The in-process wire to a virtual board for `sim://name` URLs: a host-side Transport
// (provisioner/transport/transport.ts) over a VirtualEsp32, with the same rules as a port.
import { registerSimBoard as registerSimTransportFactory } from '../../provisioner/transport/open-transport.ts';
import type { SerialSignals, Transport, TransportInfo, Unsubscribe } from '../../provisioner/transport/transport.ts';
import type { VirtualEsp32 } from './virtual-esp32.ts';
import { SimError } from './errors.ts';

/**
 * Makes a board reachable as `sim://<name>` through the provisioner's transport
 * factory, so every espfleet command in this process can open it like a port.
 */
export function registerSimBoard(name: string, chip: VirtualEsp32): Unsubscribe {
  return registerSimTransportFactory(name, (_name, url) => new SimTransport(chip, url));
}

export class SimTransport implements Transport {
  readonly info: TransportInfo;
  private opened = false;
  private closed = false;
  private detach: (() => void) | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly dataListeners = new Set<(chunk: Uint8Array) => void>();
  private readonly closeListeners = new Set<(reason?: Error) => void>();

  constructor(readonly chip: VirtualEsp32, url = `sim://${chip.options.name}`) {
    this.info = { url, kind: 'sim' };
  }

  async open(): Promise<void> {
    this.check('open', false);
    if (this.opened) throw new SimError('sim.transport.already_open', `${this.info.url} is already open`);
    this.opened = true;
    this.detach = this.chip.onTransmit((bytes) => this.dataListeners.forEach((l) => l(bytes.slice())));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.detach?.();
    this.closeListeners.forEach((l) => l());
    this.closeListeners.clear();
  }

  write(data: Uint8Array): Promise<void> {
    try {
      this.check('write');
    } catch (e) {
      return Promise.reject(e);
    }
    const copy = data.slice();
    const done = this.writing.then(() => {
      this.check('write');
      this.chip.receive(copy);
    });
    // A failed write must not poison the ones queued after it.
    this.writing = done.catch(() => undefined);
    return done;
  }

  async setBaudRate(baud: number): Promise<void> {
    this.check('setBaudRate');
    this.chip.setBaudRate(baud);
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    this.check('setSignals');
    this.chip.setSignals(signals);
  }

  onData(listener: (chunk: Uint8Array) => void): Unsubscribe {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: (reason?: Error) => void): Unsubscribe {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  private check(what: string, mustBeOpen = true): void {
    if (this.closed) throw new SimError('sim.transport.closed', `${what} on closed transport ${this.info.url}`);
    if (mustBeOpen && !this.opened) throw new SimError('sim.transport.not_open', `${what} before open on ${this.info.url}`);
  }
}
