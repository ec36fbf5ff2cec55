// The board's UART0 as a console (spec mongoose-os.md §3.1: the log shares UART0 with RPC):
// opened without resetting the board, log lines handed out as they complete, RPC frames and
// flow-control bytes kept out of the way.
import { createTransport } from '../transport/open-transport.ts';
import type { Transport } from '../transport/transport.ts';
import { UartLineDecoder } from '../rpc/line-decoder.ts';

export interface ConsoleOptions {
  baud?: number;
  /** Also hand out RPC frames (as their raw text). */
  frames?: boolean;
  onLine: (line: string) => void;
  /** Stops watching when aborted. */
  signal: AbortSignal;
}

/** Watches the console until `signal` aborts or the port goes away; resolves with the line count. */
export async function watchConsole(port: string | Transport, opts: ConsoleOptions): Promise<number> {
  const transport = typeof port === 'string' ? createTransport(port) : port;
  const decoder = new UartLineDecoder();
  let lines = 0;
  await transport.open();
  try {
    await transport.setBaudRate(opts.baud ?? 115_200);
    // De-asserted, as mos does: an asserted RTS holds the ESP32 in reset.
    await transport.setSignals({ dtr: false, rts: false });
    await new Promise<void>((resolve) => {
      if (opts.signal.aborted) return resolve();
      opts.signal.addEventListener('abort', () => resolve(), { once: true });
      transport.onClose(() => resolve());
      transport.onData((bytes) => {
        for (const ev of decoder.push(bytes)) {
          if (ev.kind === 'log' || (opts.frames && (ev.kind === 'frame' || ev.kind === 'bad'))) {
            lines++;
            opts.onLine(ev.kind === 'log' ? ev.text : ev.raw);
          }
        }
      });
    });
  } finally {
    await transport.close();
  }
  return lines;
}
