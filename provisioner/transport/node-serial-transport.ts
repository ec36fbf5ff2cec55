// A local serial port (USB-UART bridges: CP210x, CH340, FTDI, Espressif USB-JTAG)
// through node serialport. DTR and RTS go to the driver in one `set` call, which
// issues a single modem-control update — reset timing depends on it.
import { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import { TransportError, transportBusy, transportClosed, transportNotOpen, transportVanished } from './errors.ts';
import { ListenerSet } from './listeners.ts';
import type { SerialSignals, Transport, TransportInfo, Unsubscribe } from './transport.ts';

const DEFAULT_BAUD = 115200;

/** What serialport's stream needs from a platform binding (the OS one, or binding-mock in tests). */
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding'];

export interface NodeSerialOptions {
  baudRate?: number;
  /** The serialport binding; tests pass `@serialport/binding-mock`, the product the OS one. */
  binding?: SerialBinding;
}

export class NodeSerialTransport implements Transport {
  readonly info: TransportInfo;
  private port: SerialPortStream | undefined;
  private opened = false;
  private closing = false;
  private readonly baudRate: number;
  private readonly binding: SerialBinding | undefined;
  private readonly dataListeners = new ListenerSet<Uint8Array>();
  private readonly closeListeners = new ListenerSet<Error | undefined>();
  private writeChain: Promise<void> = Promise.resolve();
  /** Rejecters of writes not yet finished: a close fails them instead of leaving them hanging. */
  private readonly unfinished = new Set<(e: Error) => void>();

  constructor(
    readonly path: string,
    url = path,
    options: NodeSerialOptions = {},
  ) {
    this.info = { url, kind: 'serial' };
    this.baudRate = options.baudRate ?? DEFAULT_BAUD;
    this.binding = options.binding;
  }

  async open(): Promise<void> {
    if (this.port) return;
    const settings = { path: this.path, baudRate: this.baudRate, autoOpen: false, lock: true } as const;
    const port = this.binding ? new SerialPortStream({ ...settings, binding: this.binding }) : new SerialPort(settings);
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(openError(this.path, e)) : resolve())));
    this.port = port;
    this.opened = true;
    // Each open is a new session: its close is ours only if we ask for it.
    this.closing = false;
    port.on('data', (chunk: Buffer) => {
      if (this.port === port) this.dataListeners.emit(new Uint8Array(chunk));
    });
    port.on('close', (e: (Error & { disconnected?: boolean }) | null) => {
      if (this.port !== port) return;
      const vanished = !this.closing;
      this.port = undefined;
      for (const fail of [...this.unfinished]) fail(transportClosed(this.info.url));
      this.closeListeners.emit(vanished ? transportVanished(this.path, e?.message) : undefined);
      this.closeListeners.clear();
    });
    port.on('error', () => {}); // surfaced through write rejections and 'close'
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port) return;
    this.closing = true;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  write(data: Uint8Array): Promise<void> {
    if (!this.port) return Promise.reject(this.notUsable());
    let fail: (e: Error) => void = () => {};
    const next = new Promise<void>((resolve, reject) => {
      fail = reject;
      this.unfinished.add(reject);
      this.writeChain.then(() => {
        const port = this.port;
        if (!port) return reject(this.notUsable());
        port.write(Buffer.from(data), (e) => {
          if (e) return reject(new TransportError('transport.write_failed', `write to ${this.path} failed: ${e.message}`, { cause: e }));
          port.drain((d) => (d ? reject(new TransportError('transport.write_failed', `drain of ${this.path} failed: ${d.message}`, { cause: d })) : resolve()));
        });
      });
    }).finally(() => this.unfinished.delete(fail));
    this.writeChain = next.catch(() => {});
    return next;
  }

  async setBaudRate(baud: number): Promise<void> {
    const port = this.requirePort();
    await new Promise<void>((resolve, reject) =>
      port.update({ baudRate: baud }, (e) => (e ? reject(new TransportError('transport.baud_failed', `${this.path} refused ${baud} baud: ${e.message}`, { cause: e })) : resolve())),
    );
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    const port = this.requirePort();
    await new Promise<void>((resolve, reject) =>
      port.set({ dtr: signals.dtr, rts: signals.rts }, (e) =>
        e ? reject(new TransportError('transport.signals_failed', `${this.path} cannot set DTR/RTS: ${e.message}`, { hint: 'pseudo-terminals carry no modem lines; use rfc2217:// or sim://', cause: e })) : resolve(),
      ),
    );
  }

  onData(listener: (chunk: Uint8Array) => void): Unsubscribe {
    return this.dataListeners.add(listener);
  }

  onClose(listener: (reason?: Error) => void): Unsubscribe {
    return this.closeListeners.add(listener);
  }

  private requirePort(): SerialPortStream {
    if (!this.port) throw this.notUsable();
    return this.port;
  }

  private notUsable(): TransportError {
    return this.opened ? transportClosed(this.info.url) : transportNotOpen(this.info.url);
  }
}

function openError(path: string, e: Error): TransportError {
  const text = e.message;
  if (/ENOENT|No such file/i.test(text)) {
    return new TransportError('transport.not_found', `no serial port at ${path}`, { hint: 'run `espfleet ports` to list the ports', cause: e });
  }
  if (/lock|EBUSY|busy|Resource temporarily unavailable/i.test(text)) return transportBusy(path);
  if (/EACCES|Permission denied/i.test(text)) {
    return new TransportError('transport.no_permission', `no permission to open ${path}`, { hint: 'add your user to the "dialout" group (then log in again)', cause: e });
  }
  return new TransportError('transport.open_failed', `cannot open ${path}: ${text}`, { cause: e });
}
