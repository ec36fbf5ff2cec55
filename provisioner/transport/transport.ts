// The one interface every wire to a board implements (DESIGN.md "Transport"):
// node serialport for device paths, RFC 2217 for network serial, `sim://` for an
// in-process virtual board. Framing (SLIP, RPC lines) sits above it.

export interface SerialSignals {
  /** Data Terminal Ready; on ESP dev boards it drives GPIO0 (asserted = IO0 low). */
  dtr: boolean;
  /** Request To Send; on ESP dev boards it drives EN (asserted = chip held in reset). */
  rts: boolean;
}

export interface TransportInfo {
  /** The URL the transport was opened from, e.g. `/dev/ttyUSB0`, `rfc2217://127.0.0.1:4000`, `sim://board1`. */
  url: string;
  kind: 'serial' | 'rfc2217' | 'sim';
  vendorId?: string;
  productId?: string;
  serialNumber?: string;
}

export type Unsubscribe = () => void;

/**
 * A byte pipe to a board with modem-control lines. Every implementation passes the same
 * conformance suite (provisioner/test/transport-suite.ts), error codes included.
 *
 * Contract:
 * - `open` before anything else (earlier calls reject with `transport.not_open`); a port has
 *   one opener at a time: a second one is refused with `transport.busy`, on every transport.
 * - `write` resolves once the bytes are handed to the wire; writes never overlap (a second
 *   write waits for the first), so large writes arrive whole and in order.
 * - `setSignals` changes DTR and RTS together in one call, because separate calls break
 *   reset timing on some USB bridges.
 * - Received bytes go, in order, to every `onData` listener, until the port closes: nothing
 *   is delivered after `close()`.
 * - `close` is idempotent; after it every pending and later call rejects with
 *   `transport.closed`. `onClose` listeners fire once, with no reason for our own close and
 *   a `transport.vanished` error when the other end went away (cable pulled, server gone);
 *   then they are dropped.
 * - `open` after a close opens the port again (a new session: subscribe to `onClose` again).
 */
export interface Transport {
  readonly info: TransportInfo;
  open(): Promise<void>;
  close(): Promise<void>;
  write(data: Uint8Array): Promise<void>;
  setBaudRate(baud: number): Promise<void>;
  setSignals(signals: SerialSignals): Promise<void>;
  onData(listener: (chunk: Uint8Array) => void): Unsubscribe;
  onClose(listener: (reason?: Error) => void): Unsubscribe;
}
