// Network serial over RFC 2217 (ser2net, remote rigs, the virtual board): data
// plus baud rate and DTR/RTS carried as Telnet COM-PORT-OPTION commands, so a
// remote rig can reset a board exactly as a local USB bridge would.
import { Socket, connect } from 'node:net';
import { TransportError, transportBusy, transportClosed, transportNotOpen, transportVanished } from './errors.ts';
import { ListenerSet } from './listeners.ts';
import {
  COM_PORT,
  CONTROL,
  DO,
  DONT,
  OPTION,
  PURGE,
  SERVER_REPLY_OFFSET,
  TelnetParser,
  WILL,
  WONT,
  escapeData,
  negotiation,
  subnegotiation,
} from './telnet.ts';
import type { SerialSignals, Transport, TransportInfo, Unsubscribe } from './transport.ts';
import { parsePortUrl } from './port-url.ts';

/** host and port of an rfc2217:// URL (transport.bad_url for anything else). */
export function parseRfc2217Url(url: string): { host: string; port: number } {
  const parsed = parsePortUrl(url);
  if (parsed.kind !== 'rfc2217') throw new TransportError('transport.bad_url', `not an RFC 2217 URL: ${url}`, { hint: 'use rfc2217://<host>:<port>, e.g. rfc2217://127.0.0.1:4000' });
  return { host: parsed.host, port: parsed.port };
}

const ACK_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 5000;
/** How long open() waits for the server's first Telnet answer (a refusal comes before it). */
const GREETING_TIMEOUT_MS = 1000;
/** Options we agree to in both directions; everything else is refused. */
const ACCEPTED = new Set<number>([OPTION.BINARY, OPTION.SGA, OPTION.COM_PORT]);

interface PendingAck {
  done(): void;
  fail(e: Error): void;
}

export class Rfc2217Transport implements Transport {
  readonly info: TransportInfo;
  private socket: Socket | undefined;
  private opened = false;
  private closed = false;
  private parser = new TelnetParser();
  private readonly dataListeners = new ListenerSet<Uint8Array>();
  private readonly closeListeners = new ListenerSet<Error | undefined>();
  private readonly pendingAcks = new Map<number, PendingAck[]>();
  private writeChain: Promise<void> = Promise.resolve();
  /** Set once the server has sent a Telnet command; until then data is kept as a possible refusal. */
  private greeted = false;
  private preamble = new Uint8Array(0);
  private onGreeting: (() => void) | undefined;

  constructor(url: string) {
    const parsed = parseRfc2217Url(url);
    this.info = { url, kind: 'rfc2217' };
    this.host = parsed.host;
    this.port = parsed.port;
  }

  private readonly host: string;
  private readonly port: number;

  async open(): Promise<void> {
    if (this.socket) return;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new TransportError('transport.timeout', `no answer from ${this.info.url} within ${CONNECT_TIMEOUT_MS} ms`));
      }, CONNECT_TIMEOUT_MS);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new TransportError(
            e.code === 'ECONNREFUSED' ? 'transport.not_found' : 'transport.open_failed',
            `cannot connect to ${this.info.url}: ${e.code ?? e.message}`,
            { hint: 'is the RFC 2217 server (ser2net, `espfleet sim`) running on that port?', cause: e },
          ),
        );
      });
    });
    socket.setNoDelay(true);
    this.socket = socket;
    // Each open is a new session (reopen after close is allowed).
    this.opened = true;
    this.closed = false;
    this.parser = new TelnetParser();
    this.greeted = false;
    this.preamble = new Uint8Array(0);
    socket.on('data', (chunk: Buffer) => this.receive(new Uint8Array(chunk)));
    socket.on('error', () => {}); // 'close' follows and reports
    const greeted = this.awaitGreeting(socket);
    socket.on('close', () => {
      if (this.socket === socket) this.finish(this.closed ? undefined : (this.refusal() ?? transportVanished(this.info.url, 'the server closed the connection')));
    });
    socket.write(
      Uint8Array.from([
        ...negotiation(WILL, OPTION.BINARY),
        ...negotiation(DO, OPTION.BINARY),
        ...negotiation(WILL, OPTION.SGA),
        ...negotiation(DO, OPTION.SGA),
        ...negotiation(WILL, OPTION.COM_PORT),
      ]),
    );
    await greeted;
  }

  /**
   * Waits for the server's first Telnet answer, so a server that turns us away (a busy
   * port: ser2net and the virtual board send a line of text and hang up) fails open()
   * with its reason instead of a later write failing with EPIPE. A server that stays
   * silent is given the benefit of the doubt after GREETING_TIMEOUT_MS.
   */
  private awaitGreeting(socket: Socket): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, GREETING_TIMEOUT_MS);
      const onClose = () => {
        clearTimeout(timer);
        this.onGreeting = undefined;
        reject(this.refusal() ?? transportVanished(this.info.url, 'the server closed the connection before RFC 2217 negotiation (another client may hold the port)'));
      };
      function done(): void {
        clearTimeout(timer);
        socket.off('close', onClose);
        resolve();
      }
      this.onGreeting = () => {
        this.onGreeting = undefined;
        done();
      };
      socket.once('close', onClose);
    });
  }

  /** The server's words when it hung up before negotiating: "port busy: in use by …". */
  private refusal(): TransportError | undefined {
    if (this.greeted) return undefined;
    const text = new TextDecoder().decode(this.preamble).replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '').trim().slice(0, 200);
    if (/busy|in use|already/i.test(text)) return transportBusy(this.info.url, `another client; the server says "${text}"`);
    if (text) return transportVanished(this.info.url, `the server closed the connection before RFC 2217 negotiation, saying "${text}"`);
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed || !this.socket) return;
    this.closed = true;
    this.socket.end();
    this.socket.destroy();
    this.finish(undefined);
  }

  write(data: Uint8Array): Promise<void> {
    return this.send(escapeData(data));
  }

  async setBaudRate(baud: number): Promise<void> {
    const value = new Uint8Array(4);
    new DataView(value.buffer).setUint32(0, baud, false);
    await this.command(COM_PORT.SET_BAUDRATE, value);
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    // Both lines go out in one TCP write so the server applies them back to back.
    const dtr = subnegotiation(COM_PORT.SET_CONTROL, Uint8Array.of(signals.dtr ? CONTROL.DTR_ON : CONTROL.DTR_OFF));
    const rts = subnegotiation(COM_PORT.SET_CONTROL, Uint8Array.of(signals.rts ? CONTROL.RTS_ON : CONTROL.RTS_OFF));
    const acked = Promise.all([this.awaitAck(COM_PORT.SET_CONTROL), this.awaitAck(COM_PORT.SET_CONTROL)]);
    acked.catch(() => undefined); // if the send fails, that is the error to report
    await this.send(Uint8Array.from([...dtr, ...rts]));
    await acked;
  }

  /** Asks the server to drop what it has buffered in both directions. */
  async purge(): Promise<void> {
    await this.command(COM_PORT.PURGE_DATA, Uint8Array.of(PURGE.BOTH));
  }

  onData(listener: (chunk: Uint8Array) => void): Unsubscribe {
    return this.dataListeners.add(listener);
  }

  onClose(listener: (reason?: Error) => void): Unsubscribe {
    return this.closeListeners.add(listener);
  }

  private async command(code: number, value: Uint8Array): Promise<void> {
    const acked = this.awaitAck(code);
    acked.catch(() => undefined); // if the send fails, that is the error to report
    await this.send(subnegotiation(code, value));
    await acked;
  }

  private awaitAck(code: number): Promise<void> {
    if (!this.socket || this.closed) return Promise.reject(this.opened ? transportClosed(this.info.url) : transportNotOpen(this.info.url));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiting = this.pendingAcks.get(code);
        waiting?.splice(waiting.indexOf(entry), 1);
        reject(new TransportError('transport.no_ack', `${this.info.url} did not acknowledge RFC 2217 command ${code}`, { hint: 'the server may not support RFC 2217 (ser2net needs "telnet(rfc2217)")' }));
      }, ACK_TIMEOUT_MS);
      const entry: PendingAck = {
        done: () => {
          clearTimeout(timer);
          resolve();
        },
        fail: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const waiting = this.pendingAcks.get(code) ?? [];
      waiting.push(entry);
      this.pendingAcks.set(code, waiting);
    });
  }

  private send(bytes: Uint8Array): Promise<void> {
    const next = this.writeChain.then(
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = this.socket;
          if (this.closed || !socket) return reject(this.opened ? transportClosed(this.info.url) : transportNotOpen(this.info.url));
          socket.write(bytes, (e) => (e ? reject(new TransportError('transport.write_failed', `write to ${this.info.url} failed: ${e.message}`, { cause: e })) : resolve()));
        }),
    );
    this.writeChain = next.catch(() => {});
    return next;
  }

  private receive(chunk: Uint8Array): void {
    if (this.closed) return; // nothing is delivered after close
    for (const event of this.parser.feed(chunk)) {
      if (event.kind !== 'data' && !this.greeted) {
        this.greeted = true;
        this.onGreeting?.();
      }
      if (event.kind === 'data') {
        if (!this.greeted && this.preamble.length < 512) this.preamble = Uint8Array.from([...this.preamble, ...event.bytes]);
        this.dataListeners.emit(event.bytes);
      } else if (event.kind === 'negotiate') this.answerNegotiation(event.verb, event.option);
      else if (event.option === OPTION.COM_PORT) {
        const code = (event.payload[0] ?? 0) - SERVER_REPLY_OFFSET;
        this.pendingAcks.get(code)?.shift()?.done();
      }
    }
  }

  private answerNegotiation(verb: number, option: number): void {
    // Our own requests were sent up front; answering an agreement again would loop.
    if ((verb === DO || verb === WILL) && ACCEPTED.has(option)) return;
    if (verb === DO) this.socket?.write(negotiation(WONT, option));
    else if (verb === WILL) this.socket?.write(negotiation(DONT, option));
  }

  private finish(reason: Error | undefined): void {
    if (this.socket === undefined && this.closed) return;
    this.socket = undefined;
    this.closed = true;
    // A command waiting for its acknowledgement fails now, not at its timeout.
    for (const waiting of this.pendingAcks.values()) waiting.splice(0).forEach((w) => w.fail(transportClosed(this.info.url)));
    this.closeListeners.emit(reason);
    this.closeListeners.clear();
  }
}
