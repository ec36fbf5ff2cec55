// Serves a virtual ESP32 as a network serial port (RFC 2217), so `esptool --port
// rfc2217://host:port` and espefuse drive it unchanged. One client at a time.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { VirtualEsp32 } from './virtual-esp32.ts';
import {
  COM_PORT,
  CONTROL,
  DO,
  DONT,
  IAC,
  OPTION,
  SERVER_REPLY_OFFSET,
  TelnetParser,
  WILL,
  WONT,
  escapeData,
  subnegotiation,
  type TelnetEvent,
} from '../../provisioner/transport/telnet.ts';
import { SimError } from './errors.ts';

export interface Rfc2217ServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

const SUPPORTED = new Set<number>([OPTION.BINARY, OPTION.SGA, OPTION.COM_PORT]);
/**
 * A client that closed its port may still be "connected" here for a moment (its FIN not
 * read yet) when the next command connects; the newcomer waits this long before it is
 * turned away as busy.
 */
const BUSY_GRACE_MS = 250;

export class Rfc2217Server {
  private server: Server | undefined;
  private client: Socket | undefined;
  /** Who holds the port and since when, told to a second opener. */
  private holder = '';
  /** Newcomers waiting out BUSY_GRACE_MS; destroyed by close(). */
  private readonly waiting = new Set<Socket>();
  private unsubscribe: (() => void) | undefined;
  /** Lines as the client asked for them; what reaches the chip may be coalesced (see setControl). */
  private requested = { dtr: false, rts: false };
  private pendingRtsRelease = false;
  private agreed = new Map<string, boolean>();
  /** Baud rates the client set, in order (tests check CHANGE_BAUDRATE followed through). */
  readonly baudHistory: number[] = [];

  constructor(readonly chip: VirtualEsp32) {}

  async listen(opts: Rfc2217ServerOptions = {}): Promise<string> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new SimError('sim.listen_failed', `cannot listen on ${host}:${opts.port ?? 0}: ${e.code ?? e.message}`, { hint: 'pick another port, or 0 for a free one', cause: e })),
      );
      server.listen(opts.port ?? 0, host, () => resolve());
    });
    return this.url;
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new SimError('sim.not_listening', 'the RFC 2217 server is not listening');
    return `rfc2217://${addr.address}:${addr.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.waiting) s.destroy();
    this.waiting.clear();
    this.dropClient();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    if (socket.destroyed || !this.server) return;
    if (this.client) return this.waitOrRefuse(socket, this.client);
    socket.resume();
    this.client = socket;
    this.holder = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} since ${new Date().toISOString()}`;
    socket.setNoDelay(true);
    this.agreed.clear();
    const parser = new TelnetParser();
    this.unsubscribe = this.chip.onTransmit((bytes) => {
      if (this.client === socket && !socket.destroyed) socket.write(escapeData(bytes));
    });
    socket.on('data', (chunk: Buffer) => {
      for (const ev of parser.feed(chunk)) this.handle(socket, ev);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.client === socket) this.dropClient();
    });
  }

  /**
   * A serial port has one owner; a second opener is turned away like a busy tty, unless
   * the owner goes within BUSY_GRACE_MS. The reason goes out as plain text before any
   * Telnet negotiation (as ser2net does); Rfc2217Transport reports it as transport.busy.
   */
  private waitOrRefuse(socket: Socket, owner: Socket): void {
    socket.pause(); // its negotiation waits in the socket until it is accepted
    socket.on('error', () => undefined);
    this.waiting.add(socket);
    const ownerGone = () => {
      clearTimeout(timer);
      this.waiting.delete(socket);
      // The owner's own 'close' handler (registered first) has dropped it by now.
      this.accept(socket);
    };
    const timer = setTimeout(() => {
      owner.off('close', ownerGone);
      this.waiting.delete(socket);
      // Destroy after the goodbye: a half-open socket would keep close() waiting forever.
      socket.end(`port busy: in use by ${this.holder}\r\n`, () => socket.destroy());
    }, BUSY_GRACE_MS);
    owner.once('close', ownerGone);
  }

  private dropClient(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.client?.destroy();
    this.client = undefined;
    // Closing a tty drops DTR and RTS (HUPCL); with the reset circuit that is "run".
    this.requested = { dtr: false, rts: false };
    this.pendingRtsRelease = false;
    this.chip.setSignals(this.requested);
  }

  private handle(socket: Socket, ev: TelnetEvent): void {
    if (ev.kind === 'data') return this.chip.receive(ev.bytes);
    if (ev.kind === 'negotiate') return this.negotiate(socket, ev.verb, ev.option);
    if (ev.option === OPTION.COM_PORT) this.subnegotiate(socket, ev.payload);
  }

  /** Answers each request once, so neither side loops; pyserial waits for these replies. */
  private negotiate(socket: Socket, verb: number, option: number): void {
    const asksUs = verb === DO || verb === DONT;
    const wants = verb === DO || verb === WILL;
    const key = `${asksUs ? 'us' : 'them'}:${option}`;
    const yes = wants && SUPPORTED.has(option);
    if (this.agreed.get(key) === yes) return;
    this.agreed.set(key, yes);
    const answer = asksUs ? (yes ? WILL : WONT) : yes ? DO : DONT;
    socket.write(Uint8Array.of(IAC, answer, option));
  }

  private subnegotiate(socket: Socket, payload: Uint8Array): void {
    if (payload.length < 1) return;
    const command = payload[0] as number;
    const value = payload.subarray(1);
    const reply = (v: Uint8Array): void => void socket.write(subnegotiation(command + SERVER_REPLY_OFFSET, v));
    switch (command) {
      case COM_PORT.SET_BAUDRATE: {
        const baud = value.length >= 4 ? new DataView(value.buffer, value.byteOffset, 4).getUint32(0, false) : 0;
        if (baud > 0) {
          this.chip.setBaudRate(baud);
          this.baudHistory.push(baud);
        }
        return reply(value);
      }
      case COM_PORT.SET_CONTROL:
        this.setControl(value[0] ?? 0);
        return reply(value);
      case COM_PORT.PURGE_DATA:
        // Nothing sits in a server-side buffer here: bytes go straight to the socket or the chip.
        return reply(value);
      default:
        // Data size, parity, stop bits, masks: accepted as asked (8N1 is all the chip speaks).
        return reply(value);
    }
  }

  /**
   * DTR/RTS arrive as separate SET-CONTROL messages ≥ 50 ms apart (pyserial waits for each
   * answer), so the classic reset's "DTR on, then RTS off" passes through (1,1) — on a board
   * that is EN released with IO0 high, i.e. a normal boot. Espressif's esp_rfc2217_server
   * therefore replays the reset locally; this server does the same thing more narrowly:
   * DTR-on while the chip is held in reset is applied together with the RTS-off that follows.
   */
  private setControl(code: number): void {
    const req = this.requested;
    if (code === CONTROL.DTR_ON || code === CONTROL.DTR_OFF) {
      const dtr = code === CONTROL.DTR_ON;
      if (dtr && !req.dtr && req.rts) {
        this.requested = { dtr: true, rts: true };
        this.pendingRtsRelease = true;
        this.chip.setSignals({ dtr: true, rts: false });
        return;
      }
      this.requested = { ...req, dtr };
    } else if (code === CONTROL.RTS_ON || code === CONTROL.RTS_OFF) {
      const rts = code === CONTROL.RTS_ON;
      this.requested = { ...req, rts };
      if (this.pendingRtsRelease && !rts) {
        this.pendingRtsRelease = false;
        return; // already applied
      }
    } else return;
    if (this.pendingRtsRelease && code === CONTROL.DTR_ON) return; // DTR re-sent after setRTS
    this.pendingRtsRelease = false;
    this.chip.setSignals(this.requested);
  }
}
