// Rfc2217Transport against an independent RFC 2217 server: pyserial's own
// PortManager (the code behind esptool's esp_rfc2217_server) in front of a
// `loop://` port that echoes data and records control-line and baud changes.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { requireOracle } from '../../scripts/lib/oracles.ts';
import { TransportError } from '../transport/errors.ts';
import { createTransport } from '../transport/open-transport.ts';
import { Rfc2217Transport, parseRfc2217Url } from '../transport/rfc2217-transport.ts';
import { TelnetParser, escapeData } from '../transport/telnet.ts';

const SERVER = `
import json, socket, sys, threading, serial, serial.rfc2217

class Recording(serial.serial_for_url('loop://', do_not_open=True).__class__):
    def _update_dtr_state(self):
        print(json.dumps({'dtr': bool(self._dtr_state)}), flush=True)
    def _update_rts_state(self):
        print(json.dumps({'rts': bool(self._rts_state)}), flush=True)
    def _reconfigure_port(self):
        super()._reconfigure_port()
        print(json.dumps({'baud': self._baudrate}), flush=True)

port = Recording(None)
port.port = 'loop://'
port.timeout = 0.05
port.open()
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(1)
print(json.dumps({'port': srv.getsockname()[1]}), flush=True)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
class Connection:  # PortManager writes through .write()
    def write(self, data):
        conn.sendall(data)
manager = serial.rfc2217.PortManager(port, Connection())
def serial_to_net():
    while True:
        data = port.read(4096)
        if data:
            conn.sendall(b''.join(manager.escape(data)))
threading.Thread(target=serial_to_net, daemon=True).start()
while True:
    data = conn.recv(4096)
    if not data:
        break
    port.write(b''.join(manager.filter(data)))
print(json.dumps({'closed': True}), flush=True)
`;

interface Server {
  url: string;
  events: Record<string, unknown>[];
  child: ChildProcess;
}

let server: Server | undefined;

async function startServer(): Promise<Server> {
  const child = spawn(requireOracle('python'), ['-c', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: Record<string, unknown>[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`RFC 2217 oracle server exited ${code}`)));
    lines.on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (typeof event.port === 'number') resolve(event.port);
      else events.push(event);
    });
  });
  return { url: `rfc2217://127.0.0.1:${port}`, events, child };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

afterEach(() => {
  server?.child.kill();
  server = undefined;
});

describe('Telnet framing', () => {
  it('escapes 0xFF in data and parses it back across chunk boundaries', () => {
    const data = Uint8Array.of(1, 0xff, 2, 0xff, 0xff, 3);
    const wire = escapeData(data);
    expect(Array.from(wire)).toEqual([1, 0xff, 0xff, 2, 0xff, 0xff, 0xff, 0xff, 3]);
    const parser = new TelnetParser();
    const got: number[] = [];
    for (const b of wire) for (const e of parser.feed(Uint8Array.of(b))) if (e.kind === 'data') got.push(...e.bytes);
    expect(got).toEqual(Array.from(data));
  });

  it('parses negotiations and COM-PORT subnegotiations between data', () => {
    const events = new TelnetParser().feed(Uint8Array.of(7, 0xff, 0xfb, 44, 8, 0xff, 0xfa, 44, 101, 0, 1, 0xc2, 0, 0xff, 0xf0, 9));
    expect(events).toEqual([
      { kind: 'data', bytes: Uint8Array.of(7) },
      { kind: 'negotiate', verb: 0xfb, option: 44 },
      { kind: 'data', bytes: Uint8Array.of(8) },
      { kind: 'subnegotiate', option: 44, payload: Uint8Array.of(101, 0, 1, 0xc2, 0) },
      { kind: 'data', bytes: Uint8Array.of(9) },
    ]);
  });

  it('rejects URLs that are not rfc2217://host:port', () => {
    expect(parseRfc2217Url('rfc2217://[::1]:4000')).toEqual({ host: '::1', port: 4000 });
    expect(() => parseRfc2217Url('rfc2217://host')).toThrow(TransportError);
    expect(() => createTransport('COM-x')).toThrow(/is not a port URL/);
  });
});

describe('Rfc2217Transport against pyserial PortManager', () => {
  it('moves every byte value both ways, sets baud and DTR/RTS, and reports the server going away', async () => {
    server = await startServer();
    const transport = createTransport(server.url);
    expect(transport).toBeInstanceOf(Rfc2217Transport);
    await transport.open();
    const received: number[] = [];
    transport.onData((chunk) => received.push(...chunk));
    const closed = new Promise<Error | undefined>((resolve) => transport.onClose(resolve));

    await transport.setBaudRate(921600);
    await until('baud event', () => server!.events.some((e) => e.baud === 921600));

    await transport.setSignals({ dtr: true, rts: false });
    await until('dtr+rts', () => server!.events.some((e) => e.dtr === true) && server!.events.some((e) => e.rts === false));
    const last = server.events.filter((e) => 'dtr' in e || 'rts' in e).slice(-2);
    expect(last).toEqual([{ dtr: true }, { rts: false }]);

    const all = Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff);
    await transport.write(all);
    await until('echo', () => received.length >= all.length);
    expect(Uint8Array.from(received)).toEqual(all);

    server.child.kill();
    const reason = await closed;
    expect(reason).toBeInstanceOf(TransportError);
    expect((reason as TransportError).code).toBe('transport.vanished');
    await expect(transport.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'transport.closed' });
  });

  it('says clearly when nothing listens on the port', async () => {
    const transport = createTransport('rfc2217://127.0.0.1:1');
    await expect(transport.open()).rejects.toMatchObject({ code: 'transport.not_found' });
  });
});
