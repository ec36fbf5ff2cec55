// Request/response over a Mongoose OS UART (spec mongoose-os.md §3.1, §3.2): opens the port
// without resetting the board (DTR/RTS de-asserted), does mos's EOF handshake, then sends
// mos-format frames (legacy delimiters + CRC), matches replies by id, retries garbled or
// lost exchanges, and hands log lines to a console listener.
import type { Transport, Unsubscribe } from '../transport/transport.ts';
import { RpcError } from './errors.ts';
import { EOF_HANDSHAKE, encodeFrame, sameId, type RpcFrame, type RpcId } from './frame.ts';
import { UartLineDecoder, type UartEvent } from './line-decoder.ts';

export interface RpcChannelOptions {
  /** Our address in `src` (mos uses "mos"). */
  src?: string;
  /** Per-attempt reply timeout. */
  timeoutMs?: number;
  /** Extra attempts after a garbled reply (CRC) or a timeout. */
  retries?: number;
  /** How long the EOF handshake may go unanswered before the board counts as silent. */
  handshakeMs?: number;
  /** Interval between handshake probes (mos: 200 ms). */
  handshakeIntervalMs?: number;
  /** Device log lines (anything between frames that is not a frame). */
  onLog?: (line: string) => void;
  /** Frames from the device without an id (notifications) or with an id nobody waits for. */
  onNotification?: (frame: RpcFrame) => void;
  /**
   * mos's write pacing for USB-serial bridges without hardware flow control at 115200:
   * frames go out in `chunk`-byte pieces with `pauseMs` between them (§3.1: 16 bytes, 5 ms).
   * Default: on for `serial` ports at 115200, off otherwise; `false` turns it off.
   */
  pacing?: { chunk: number; pauseMs: number } | false;
  /** Longest pause after an XOFF before writing anyway (a forged XOFF must not hang us). */
  xoffMaxMs?: number;
  /** Set this line speed after opening (Mongoose OS: 115200). */
  baud?: number;
  /** Random source for ids in [2^40, 2^41), as mos picks them; injectable for exact tests. */
  random?: () => number;
}

export interface CallOptions {
  timeoutMs?: number;
  retries?: number;
  /** A reboot during this call is expected (Sys.Reboot), not an error. */
  expectReboot?: boolean;
}

interface Pending {
  ids: RpcId[];
  settle: (result: { frame: RpcFrame } | { garbled: RpcError } | { rebooted: string }) => void;
  expectReboot: boolean;
}

/** A line the ESP32 ROM prints on every reset: the board rebooted under us. */
const RESET_LINE = /^(rst:0x[0-9a-f]+ |ets [A-Z][a-z]{2} )/;

export class RpcChannel {
  private readonly decoder = new UartLineDecoder();
  private readonly pending = new Set<Pending>();
  private readonly subs: Unsubscribe[] = [];
  private paused: { promise: Promise<void>; resume: () => void } | undefined;
  private readonly resetWatchers = new Set<() => void>();
  private answeredHandshake: (() => void) | undefined;
  private closed: Error | undefined;
  private readonly opts: Required<Omit<RpcChannelOptions, 'onLog' | 'onNotification' | 'baud' | 'pacing'>> & Pick<RpcChannelOptions, 'onLog' | 'onNotification' | 'baud' | 'pacing'>;
  private readonly pacing: { chunk: number; pauseMs: number } | undefined;

  private constructor(readonly transport: Transport, opts: RpcChannelOptions) {
    this.opts = {
      src: 'espfleet',
      timeoutMs: 10_000,
      retries: 2,
      handshakeMs: 3_000,
      handshakeIntervalMs: 200,
      xoffMaxMs: 1_000,
      random: Math.random,
      ...(Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as RpcChannelOptions),
    };
    const mosDefault = transport.info.kind === 'serial' && (opts.baud ?? 115_200) === 115_200 ? { chunk: 16, pauseMs: 5 } : undefined;
    this.pacing = opts.pacing === false ? undefined : (opts.pacing ?? mosDefault);
  }

  /** Opens the transport (if needed), de-asserts DTR and RTS, and waits for the board to answer the handshake. */
  static async open(transport: Transport, opts: RpcChannelOptions = {}): Promise<RpcChannel> {
    const ch = new RpcChannel(transport, opts);
    await transport.open();
    ch.subs.push(
      transport.onData((b) => ch.receive(b)),
      transport.onClose((reason) => ch.fail(reason ?? new RpcError('rpc.closed', `the port ${transport.info.url} closed`))),
    );
    try {
      if (opts.baud !== undefined) await transport.setBaudRate(opts.baud);
      await transport.setSignals({ dtr: false, rts: false });
      await ch.handshake();
    } catch (e) {
      await ch.close();
      throw e;
    }
    return ch;
  }

  /** Calls a method and resolves with its `result`; a board error rejects with `rpc.remote`. */
  async call(method: string, params?: unknown, opts: CallOptions = {}): Promise<unknown> {
    const attempts = 1 + (opts.retries ?? this.opts.retries);
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const p: Pending = { ids: [], settle: () => {}, expectReboot: opts.expectReboot ?? false };
    let garbled: RpcError | undefined;
    this.pending.add(p);
    try {
      for (let attempt = 0; attempt < attempts; attempt++) {
        this.throwIfClosed();
        const id = this.nextId();
        p.ids.push(id);
        const frame: RpcFrame = { id, src: this.opts.src, method };
        if (params !== undefined) frame.params = params;
        const bytes = encodeFrame(frame, { crc: true, legacy: true });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const outcome = await new Promise<{ frame: RpcFrame } | { garbled: RpcError } | { rebooted: string } | { timeout: true }>((resolve) => {
          p.settle = resolve;
          timer = setTimeout(() => resolve({ timeout: true }), timeoutMs);
          this.write(bytes).catch((e: unknown) => this.fail(e as Error));
        });
        clearTimeout(timer);
        this.throwIfClosed();
        if ('frame' in outcome) {
          const err = outcome.frame.error;
          if (err && err.code !== 0) {
            throw new RpcError('rpc.remote', `${method} failed on the board: ${err.code} ${err.message}`, { remoteCode: err.code, hint: remoteHint(err.code) });
          }
          return outcome.frame.result ?? null;
        }
        if ('rebooted' in outcome) {
          if (p.expectReboot) return null;
          throw new RpcError('rpc.rebooted', `the board rebooted during ${method} (${outcome.rebooted.trim()})`, { hint: 'run the command again once the board is up; check its power supply if it keeps resetting' });
        }
        if ('garbled' in outcome) garbled = outcome.garbled;
      }
    } finally {
      this.pending.delete(p);
    }
    if (garbled) {
      throw new RpcError('rpc.garbled', `${method}: ${attempts} replies arrived garbled (${garbled.message})`, { hint: 'the serial line is noisy: try another cable or port', cause: garbled });
    }
    throw new RpcError('rpc.timeout', `${method}: no reply from the board on ${this.transport.info.url} after ${attempts} attempts of ${timeoutMs} ms`, {
      hint: 'the board may be busy or rebooting; try again, or with a longer --timeout',
    });
  }

  /** Sends a frame without an id: the board runs it and replies nothing. */
  async notify(method: string, params?: unknown): Promise<void> {
    this.throwIfClosed();
    const frame: RpcFrame = { src: this.opts.src, method };
    if (params !== undefined) frame.params = params;
    await this.write(encodeFrame(frame, { crc: true, legacy: true }));
  }

  /**
   * For a call that reboots the board: start watching before the call, then `wait` for the
   * ROM's reset banner and for the new firmware to answer the handshake again.
   */
  watchReboot(): { wait(timeoutMs?: number): Promise<void> } {
    const seen = new Promise<void>((r) => this.resetWatchers.add(r));
    return {
      wait: async (timeoutMs = 15_000) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
        const first = await Promise.race([seen, timedOut]);
        clearTimeout(timer);
        if (first === 'timeout') {
          throw new RpcError('rpc.no_reboot', `the board on ${this.transport.info.url} did not reboot within ${timeoutMs} ms`, { hint: 'reset it by hand, or look at its console' });
        }
        await this.handshake(Math.max(this.opts.handshakeMs, timeoutMs));
      },
    };
  }

  /** Detaches from the transport and closes it. */
  async close(): Promise<void> {
    this.fail(new RpcError('rpc.closed', 'the RPC channel was closed'));
    for (const u of this.subs.splice(0)) u();
    await this.transport.close();
  }

  private async handshake(withinMs = this.opts.handshakeMs): Promise<void> {
    const answered = new Promise<void>((r) => (this.answeredHandshake = r));
    const deadline = Date.now() + withinMs;
    let done = false;
    void answered.then(() => (done = true));
    while (!done && Date.now() < deadline) {
      this.throwIfClosed();
      await this.transport.write(EOF_HANDSHAKE);
      await Promise.race([answered, sleep(this.opts.handshakeIntervalMs)]);
    }
    this.answeredHandshake = undefined;
    if (!done) {
      throw new RpcError('rpc.no_answer', `the board on ${this.transport.info.url} does not answer Mongoose OS RPC (no reply to the handshake in ${withinMs} ms)`, {
        hint: 'is it running Mongoose OS (not the ROM loader or another firmware)? Is the baud rate right (Mongoose OS uses 115200)? Is RPC over UART (rpc.uart) enabled?',
      });
    }
  }

  private receive(bytes: Uint8Array): void {
    for (const ev of this.decoder.push(bytes)) this.handle(ev);
  }

  private handle(ev: UartEvent): void {
    switch (ev.kind) {
      case 'empty':
      case 'eof':
        this.answeredHandshake?.();
        return;
      case 'flow':
        if (ev.paused && !this.paused) {
          let resume = () => {};
          const promise = new Promise<void>((r) => (resume = r));
          // A line glitch can forge an XOFF whose XON never comes: pause at most xoffMaxMs.
          const timer = setTimeout(() => this.resumeWrites(), this.opts.xoffMaxMs);
          this.paused = { promise, resume: () => (clearTimeout(timer), resume()) };
        } else if (!ev.paused) {
          this.resumeWrites();
        }
        return;
      case 'log':
        this.opts.onLog?.(ev.text);
        if (RESET_LINE.test(ev.text)) {
          for (const w of this.resetWatchers) w();
          this.resetWatchers.clear();
          for (const p of this.pending) p.settle({ rebooted: ev.text });
        }
        return;
      case 'bad':
        this.opts.onLog?.(ev.raw);
        // A garbled line may have been any pending call's reply: retry them now instead of waiting out the timeout.
        for (const p of this.pending) p.settle({ garbled: ev.error });
        return;
      case 'frame': {
        this.answeredHandshake?.();
        const f = ev.frame;
        if (!ev.crc) {
          // We always send a CRC, so the board appends one to every frame (§3.1); a frame
          // without one lost bytes of its trailer and may have lost more: not trusted.
          for (const p of this.pending) p.settle({ garbled: new RpcError('rpc.frame.no_crc', `a frame arrived without its CRC: ${ev.raw.slice(0, 60)}`) });
          return;
        }
        const owner = f.id === undefined || f.method !== undefined ? undefined : [...this.pending].find((p) => p.ids.some((id) => sameId(id, f.id)));
        if (owner) owner.settle({ frame: f });
        else this.opts.onNotification?.(f);
        return;
      }
    }
  }

  private resumeWrites(): void {
    this.paused?.resume();
    this.paused = undefined;
  }

  private async write(bytes: Uint8Array): Promise<void> {
    // XOFF from the board: hold our bytes until it sends XON (§3.1, rpc.uart.fc_type 2).
    if (!this.pacing) {
      while (this.paused) await this.paused.promise;
      return this.transport.write(bytes);
    }
    for (let at = 0; at < bytes.length; at += this.pacing.chunk) {
      if (at > 0) await sleep(this.pacing.pauseMs);
      while (this.paused) await this.paused.promise;
      await this.transport.write(bytes.subarray(at, at + this.pacing.chunk));
    }
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = e;
    for (const p of this.pending) p.settle({ rebooted: '' });
    this.paused?.resume();
  }

  private throwIfClosed(): void {
    if (this.closed) throw this.closed;
  }

  private nextId(): number {
    return 2 ** 40 + Math.floor(this.opts.random() * 2 ** 40);
  }
}

function remoteHint(code: number): string | undefined {
  if (code === 404) return 'the board has no such method or key: list methods with `espfleet device call RPC.List`';
  if (code === 403 || code === 401) return 'the board requires RPC authorization (rpc.acl / rpc.auth_file)';
  if (code === 400) return 'the board refused the arguments; check names and types';
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
