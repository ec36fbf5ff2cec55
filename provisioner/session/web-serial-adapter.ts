// A Web-Serial-shaped port over our Transport (provisioner/transport/transport.ts), which
// is what esptool-js's `Transport` class drives. DTR and RTS always go out in ONE
// transport.setSignals call (STYLE.md lesson 1); baud changes go to transport.setBaudRate
// in place, because esptool-js prefers `setBaudRate` over closing and reopening the port.
import type { SerialSignals, Transport } from '../transport/transport.ts';

export interface WebSerialSignals {
  dataTerminalReady?: boolean;
  requestToSend?: boolean;
  break?: boolean;
}

export interface WebSerialPortInfo {
  usbVendorId?: number;
  usbProductId?: number;
}

export class WebSerialAdapter {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  /** Lines as last set; a Web Serial call may name only one, the other keeps its state. */
  private lines: SerialSignals = { dtr: false, rts: false };
  private transportOpened = false;
  private unsubscribeData: (() => void) | undefined;
  private unsubscribeClose: (() => void) | undefined;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;

  constructor(
    readonly transport: Transport,
    /** Pass true when the caller already opened the transport. */
    alreadyOpen = false,
  ) {
    this.transportOpened = alreadyOpen;
  }

  /** Opens the streams (and the transport, once); esptool-js calls this on connect and after a reopen. */
  async open(options: { baudRate: number }): Promise<void> {
    if (!this.transportOpened) {
      await this.transport.open();
      this.transportOpened = true;
    }
    await this.transport.setBaudRate(options.baudRate);
    this.attachStreams();
  }

  /**
   * Ends the streams but keeps the transport open: esptool-js "closes" the port when it
   * re-syncs or changes baud, and the session, not esptool-js, owns the wire.
   */
  async close(): Promise<void> {
    this.detachStreams();
  }

  async setSignals(signals: WebSerialSignals): Promise<void> {
    const next: SerialSignals = {
      dtr: signals.dataTerminalReady ?? this.lines.dtr,
      rts: signals.requestToSend ?? this.lines.rts,
    };
    this.lines = next;
    await this.transport.setSignals(next);
  }

  async setBaudRate(baud: number): Promise<void> {
    await this.transport.setBaudRate(baud);
  }

  getInfo(): WebSerialPortInfo {
    const vid = parseHexId(this.transport.info.vendorId);
    const pid = parseHexId(this.transport.info.productId);
    return { ...(vid === undefined ? {} : { usbVendorId: vid }), ...(pid === undefined ? {} : { usbProductId: pid }) };
  }

  /** DTR/RTS as the board last saw them (tests check reset sequences through this). */
  get signals(): SerialSignals {
    return { ...this.lines };
  }

  private attachStreams(): void {
    this.detachStreams();
    const transport = this.transport;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
        this.unsubscribeData = transport.onData((chunk) => {
          try {
            controller.enqueue(chunk);
          } catch {
            // The stream was cancelled between the data event and here.
          }
        });
        this.unsubscribeClose = transport.onClose(() => {
          try {
            controller.close();
          } catch {
            // already closed
          }
        });
      },
      cancel: () => {
        this.unsubscribeData?.();
        this.unsubscribeClose?.();
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => transport.write(chunk),
    });
  }

  private detachStreams(): void {
    // A reader still waiting on the old stream gets `done` instead of hanging forever.
    try {
      this.controller?.close();
    } catch {
      // already closed or cancelled
    }
    this.controller = undefined;
    this.unsubscribeData?.();
    this.unsubscribeClose?.();
    this.unsubscribeData = undefined;
    this.unsubscribeClose = undefined;
    this.readable = null;
    this.writable = null;
  }
}

function parseHexId(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number.parseInt(text.replace(/^0x/i, ''), 16);
  return Number.isFinite(n) ? n : undefined;
}
