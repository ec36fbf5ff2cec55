// A local serial port (USB-UART bridges: CP210x, CH340, FTDI, Espressif USB-JTAG)
// through node serialport. DTR and RTS go to the driver in one `set` call, which
// issues a single modem-control update — reset timing depends on it.
import { SerialPort } from 'serialport';
import { TransportError, transportClosed } from './errors.ts';
import { ListenerSet } from './listeners.ts';
import type { SerialSignals, Transport, TransportInfo, Unsubscribe } from './transport.ts';

const DEFAULT_BAUD = 115200;

export class NodeSerialTransport implements Transport {
  readonly info: TransportInfo;
  private port: SerialPort | undefined;
  private closing = false;
  private readonly dataListeners = new ListenerSet<Uint8Array>();
  private readonly closeListeners = new ListenerSet<Error | undefined>();
  private writeChain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    url = path,
    private readonly baudRate = DEFAULT_BAUD,
  ) {
    this.info = { url, kind: 'serial' };
  }

  async open(): Promise<void> {
    if (this.port) return;
    const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false, lock: true });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(openError(this.path, e)) : resolve())));
    this.port = port;
    port.on('data', (chunk: Buffer) => this.dataListeners.emit(new Uint8Array(chunk)));
    port.on('close', (e: (Error & { disconnected?: boolean }) | null) => {
      const vanished = !this.closing;
      this.port = undefined;
      this.closeListeners.emit(
        vanished ? new TransportError('transport.vanished', `${this.path} went away${e ? `: ${e.message}` : ''}`, { hint: 'check the USB cable and the hub' }) : undefined,
      );
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
    const next = this.writeChain.then(
      () =>
        new Promise<void>((resolve, reject) => {
          const port = this.port;
          if (!port) return reject(transportClosed(this.info.url));
          port.write(Buffer.from(data), (e) => {
            if (e) return reject(new TransportError('transport.write_failed', `write to ${this.path} failed: ${e.message}`, { cause: e }));
            port.drain((d) => (d ? reject(new TransportError('transport.write_failed', `drain of ${this.path} failed: ${d.message}`, { cause: d })) : resolve()));
          });
        }),
    );
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

  private requirePort(): SerialPort {
    if (!this.port) throw transportClosed(this.info.url);
    return this.port;
  }
}

function openError(path: string, e: Error): TransportError {
  const text = e.message;
  if (/ENOENT|No such file/i.test(text)) {
    return new TransportError('transport.not_found', `no serial port at ${path}`, { hint: 'run `espfleet ports` to list the ports', cause: e });
  }
  if (/lock|EBUSY|busy|Resource temporarily unavailable/i.test(text)) {
    return new TransportError('transport.busy', `${path} is in use by another program`, { hint: 'close the other program (a serial monitor, another espfleet) and retry', cause: e });
  }
  if (/EACCES|Permission denied/i.test(text)) {
    return new TransportError('transport.no_permission', `no permission to open ${path}`, { hint: 'add your user to the "dialout" group (then log in again)', cause: e });
  }
  return new TransportError('transport.open_failed', `cannot open ${path}: ${text}`, { cause: e });
}
