// A Web-Serial-shaped port ({readable, writable, open, close, setSignals, getInfo}) over a
// SimTransport, so esptool-js's browser Transport runs unchanged in Node against the board.
import type { SimTransport } from '../../virtual-esp32/sim-transport.ts';

export interface WebSerialLikePort {
  readonly readable: ReadableStream<Uint8Array> | null;
  readonly writable: WritableStream<Uint8Array> | null;
  open(options: { baudRate: number }): Promise<void>;
  close(): Promise<void>;
  setSignals(signals: { dataTerminalReady?: boolean; requestToSend?: boolean; break?: boolean }): Promise<void>;
  setBaudRate(baud: number): Promise<void>;
  getInfo(): { usbVendorId?: number; usbProductId?: number };
}

export function webSerialPort(transport: SimTransport): WebSerialLikePort {
  let readable: ReadableStream<Uint8Array> | null = null;
  let writable: WritableStream<Uint8Array> | null = null;
  let stopReading: (() => void) | undefined;
  // Web Serial keeps each line's last state; a call may set one line or both.
  const lines = { dtr: false, rts: false };
  let opened = false;
  return {
    get readable() {
      return readable;
    },
    get writable() {
      return writable;
    },
    async open({ baudRate }) {
      if (!opened) await transport.open();
      opened = true;
      await transport.setBaudRate(baudRate);
      readable = new ReadableStream<Uint8Array>({
        start(controller) {
          const off = transport.onData((chunk) => controller.enqueue(chunk));
          stopReading = () => {
            off();
            try {
              controller.close();
            } catch {
              // already closed by a cancel
            }
          };
        },
        cancel() {
          stopReading?.();
        },
      });
      writable = new WritableStream<Uint8Array>({ write: (chunk) => transport.write(chunk) });
    },
    async close() {
      stopReading?.();
      readable = null;
      writable = null;
    },
    async setSignals(s) {
      if (s.dataTerminalReady !== undefined) lines.dtr = s.dataTerminalReady;
      if (s.requestToSend !== undefined) lines.rts = s.requestToSend;
      await transport.setSignals({ ...lines });
    },
    async setBaudRate(baud) {
      await transport.setBaudRate(baud);
    },
    // A CP2102 bridge, as on most ESP32 dev boards.
    getInfo: () => ({ usbVendorId: 0x10c4, usbProductId: 0xea60 }),
  };
}
