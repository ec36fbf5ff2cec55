// The RPC channel over a Transport (spec mongoose-os.md §3.1, §3.2): open without reset, the
// EOF handshake, mos-format requests, id matching, retries on garbled replies and timeouts,
// log lines to the console listener, XON/XOFF, board errors and reboots mid-call.
import { describe, expect, it } from 'vitest';
import type { SerialSignals, Transport } from '../transport/transport.ts';
import { RpcChannel } from '../rpc/channel.ts';
import { RpcError } from '../rpc/errors.ts';
import { crcHex, encodeFrame, type RpcFrame } from '../rpc/frame.ts';
import { UartLineDecoder } from '../rpc/line-decoder.ts';

/** A port whose far end is a test script: it sees each request frame and answers with raw bytes. */
class ScriptedPort implements Transport {
  readonly info = { url: 'test://scripted', kind: 'sim' as const };
  readonly signals: SerialSignals[] = [];
  readonly written: string[] = [];
  readonly requests: RpcFrame[] = [];
  private data = new Set<(b: Uint8Array) => void>();
  private closers = new Set<(e?: Error) => void>();
  private decoder = new UartLineDecoder();
  constructor(private answer: (req: RpcFrame, port: ScriptedPort) => string | undefined, private answerHandshake = true) {}
  async open() {}
  async close() {
    for (const c of this.closers) c();
  }
  async write(bytes: Uint8Array) {
    const s = Buffer.from(bytes).toString('latin1');
    this.written.push(s);
    for (const ev of this.decoder.push(bytes)) {
      if (ev.kind === 'eof' && this.answerHandshake) this.send('"""\x04"""\n');
      if (ev.kind === 'frame') {
        this.requests.push(ev.frame);
        const reply = this.answer(ev.frame, this);
        if (reply !== undefined) setTimeout(() => this.send(reply), 1);
      }
    }
  }
  async setBaudRate() {}
  async setSignals(s: SerialSignals) {
    this.signals.push(s);
  }
  onData(l: (b: Uint8Array) => void) {
    this.data.add(l);
    return () => void this.data.delete(l);
  }
  onClose(l: (e?: Error) => void) {
    this.closers.add(l);
    return () => void this.closers.delete(l);
  }
  send(s: string) {
    for (const l of this.data) l(Uint8Array.from(Buffer.from(s, 'latin1')));
  }
}

const reply = (f: RpcFrame) => Buffer.from(encodeFrame(f, { crc: true, legacy: false })).toString('latin1');
const ok = (result: unknown) => (req: RpcFrame) => reply({ id: req.id!, src: 'esp32_A1B2C3', dst: req.src!, result });
const fast = { timeoutMs: 80, handshakeMs: 300, handshakeIntervalMs: 20 };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return (e as RpcError).code;
  }
  return undefined;
}

describe('RPC channel', () => {
  it('opens with DTR and RTS de-asserted in one call, then does the EOF handshake', async () => {
    const port = new ScriptedPort(ok(null));
    const ch = await RpcChannel.open(port, fast);
    expect(port.signals).toEqual([{ dtr: false, rts: false }]);
    expect(port.written[0]).toBe('"""\x04"""\n\n');
    await ch.close();
  });

  it('a board that never answers the handshake is rpc.no_answer with a hint on baud and Mongoose OS', async () => {
    const port = new ScriptedPort(ok(null), false);
    const err = await RpcChannel.open(port, fast).catch((e: RpcError) => e);
    expect(err).toMatchObject({ code: 'rpc.no_answer' });
    expect((err as RpcError).hint).toMatch(/Mongoose OS/);
    expect((err as RpcError).hint).toMatch(/baud/);
    expect(port.written.length).toBeGreaterThan(3); // probed repeatedly
  });

  it('sends mos-format requests (legacy delimiters, CRC, src, id in [2^40, 2^41)) and returns the result', async () => {
    const port = new ScriptedPort(ok({ app: 'demo' }));
    const ch = await RpcChannel.open(port, { ...fast, src: 'mos', random: () => 0.5 });
    expect(await ch.call('Sys.GetInfo')).toEqual({ app: 'demo' });
    const json = `{"id":${2 ** 40 + 2 ** 39},"src":"mos","method":"Sys.GetInfo"}`;
    expect(port.written.at(-1)).toBe(`\n"""${json}${crcHex(json)}"""\n`);
    await ch.close();
  });

  it('matches a reply whose id came back as a number for a digit-string id, and ignores replies for other ids', async () => {
    const notes: RpcFrame[] = [];
    const port = new ScriptedPort((req) => reply({ id: 1, result: 'stray' }) + reply({ id: Number(req.id), result: 'mine' }));
    const ch = await RpcChannel.open(port, { ...fast, onNotification: (f) => notes.push(f) });
    expect(await ch.call('RPC.Ping')).toBe('mine');
    expect(notes).toEqual([{ id: 1, result: 'stray' }]);
    await ch.close();
  });

  it('passes log lines between frames to the console listener', async () => {
    const logs: string[] = [];
    const port = new ScriptedPort((req) => `[Dec  2 02:00:00.001] mgos_rpc  hello\r\n${ok(true)(req)}I (99) tail\r\n`);
    const ch = await RpcChannel.open(port, { ...fast, onLog: (l) => logs.push(l) });
    expect(await ch.call('RPC.Ping')).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(logs).toEqual(['[Dec  2 02:00:00.001] mgos_rpc  hello', 'I (99) tail']);
    await ch.close();
  });

  it('retries at once with a new id when a reply arrives with a bad CRC', async () => {
    let n = 0;
    const port = new ScriptedPort((req) => (n++ === 0 ? `{"id":${req.id},"result":1}deadbeef\n` : ok(2)(req)));
    // A reply timeout of ten minutes: only a retry made at once can finish within the test's time.
    const ch = await RpcChannel.open(port, { ...fast, timeoutMs: 600_000 });
    expect(await ch.call('X.Y')).toBe(2);
    expect(port.requests).toHaveLength(2);
    expect(port.requests[0]!.id).not.toBe(port.requests[1]!.id);
    await ch.close();
  });

  it('reports rpc.garbled after every attempt came back garbled, and never returns the garbled data', async () => {
    const port = new ScriptedPort((req) => `{"id":${req.id},"result":"wrong"}0badc0de\n`);
    const ch = await RpcChannel.open(port, fast);
    expect(await codeOf(ch.call('X.Y', undefined, { retries: 2 }))).toBe('rpc.garbled');
    expect(port.requests).toHaveLength(3);
    await ch.close();
  });

  it('retries a dropped exchange after the timeout, then reports rpc.timeout', async () => {
    let n = 0;
    const port = new ScriptedPort((req) => (n++ === 0 ? undefined : ok('late')(req)));
    const ch = await RpcChannel.open(port, fast);
    expect(await ch.call('X.Y')).toBe('late');
    const silent = new ScriptedPort(() => undefined);
    const ch2 = await RpcChannel.open(silent, fast);
    expect(await codeOf(ch2.call('X.Y', undefined, { retries: 1 }))).toBe('rpc.timeout');
    expect(silent.requests).toHaveLength(2);
    await ch.close();
    await ch2.close();
  });

  it('a reply that lost its CRC trailer is not trusted: retried, never returned', async () => {
    let n = 0;
    const port = new ScriptedPort((req) => (n++ === 0 ? `{"id":${req.id},"result":"truncated"}a1b2\n` : ok('whole')(req)));
    const ch = await RpcChannel.open(port, fast);
    expect(await ch.call('X.Y')).toBe('whole');
    expect(port.requests).toHaveLength(2);
    await ch.close();
  });

  it('an XOFF whose XON never comes pauses writes only for xoffMaxMs', async () => {
    const port = new ScriptedPort(ok('y'));
    const ch = await RpcChannel.open(port, { ...fast, timeoutMs: 2_000, xoffMaxMs: 50 });
    port.send('\x13');
    const t0 = Date.now();
    expect(await ch.call('RPC.Ping')).toBe('y');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    await ch.close();
  });

  it('paces writes like mos when asked (16-byte pieces, 5 ms apart)', async () => {
    const port = new ScriptedPort(ok('paced'));
    const ch = await RpcChannel.open(port, { ...fast, timeoutMs: 2_000, pacing: { chunk: 16, pauseMs: 5 } });
    const before = port.written.length;
    const t0 = Date.now();
    expect(await ch.call('RPC.Ping')).toBe('paced');
    const pieces = port.written.slice(before);
    expect(pieces.every((p) => p.length <= 16)).toBe(true);
    expect(pieces.join('')).toMatch(/^\n"""\{"id":\d+,"src":"espfleet","method":"RPC.Ping"\}[0-9a-f]{8}"""\n$/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5 * (pieces.length - 1) - 5);
    await ch.close();
  });

  it("a board error is rpc.remote carrying the board's code and message", async () => {
    const port = new ScriptedPort((req) => reply({ id: req.id!, error: { code: 404, message: 'No handler for Nope.Nope' } }));
    const ch = await RpcChannel.open(port, fast);
    const err = (await ch.call('Nope.Nope').catch((e: RpcError) => e)) as RpcError;
    expect(err).toMatchObject({ code: 'rpc.remote', remoteCode: 404 });
    expect(err.message).toContain('No handler for Nope.Nope');
    expect(port.requests).toHaveLength(1); // not retried
    await ch.close();
  });

  it('holds writes after XOFF until XON', async () => {
    const port = new ScriptedPort(ok('x'));
    const ch = await RpcChannel.open(port, { ...fast, timeoutMs: 2_000 });
    port.send('\x13');
    const call = ch.call('RPC.Ping');
    await new Promise((r) => setTimeout(r, 30));
    expect(port.requests).toHaveLength(0);
    port.send('\x11');
    expect(await call).toBe('x');
    await ch.close();
  });

  it('a reset banner during a call is rpc.rebooted, unless the call expects the reboot', async () => {
    const port = new ScriptedPort(() => 'ets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n');
    const ch = await RpcChannel.open(port, { ...fast, timeoutMs: 2_000 });
    expect(await codeOf(ch.call('Config.Set', {}))).toBe('rpc.rebooted');
    expect(await ch.call('Sys.Reboot', {}, { expectReboot: true })).toBeNull();
    await ch.close();
  });

  it('notifications go out without an id; device frames without an id reach the notification listener', async () => {
    const notes: RpcFrame[] = [];
    const port = new ScriptedPort(() => undefined);
    const ch = await RpcChannel.open(port, { ...fast, onNotification: (f) => notes.push(f) });
    await ch.notify('Sys.Log', { msg: 'hi' });
    expect(port.requests.at(-1)).toEqual({ src: 'espfleet', method: 'Sys.Log', params: { msg: 'hi' } });
    port.send(reply({ method: 'Event.Fired', params: { ev: 1 } }));
    expect(notes).toEqual([{ method: 'Event.Fired', params: { ev: 1 } }]);
    await ch.close();
  });
});
