// The RFC 2217 server at the Telnet byte level: option answers, COM-PORT replies (code + 100),
// IAC escaping in both directions, and DTR/RTS driving the board's reset circuit.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Rfc2217Server, VirtualEsp32 } from '../index.ts';
import { slipEncode } from '../virtual-esp32/slip.ts';
import { sleep } from './helpers/slip-host.ts';

const IAC = 0xff, SB = 0xfa, SE = 0xf0, WILL = 0xfb, DO = 0xfd, WONT = 0xfc;
const COM = 44;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function open(chip: VirtualEsp32): Promise<{ socket: Socket; received: number[]; server: Rfc2217Server }> {
  const server = new Rfc2217Server(chip);
  const url = await server.listen();
  const port = Number(url.split(':').pop());
  const socket = connect(port, '127.0.0.1');
  const received: number[] = [];
  socket.on('data', (b: Buffer) => received.push(...b));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  cleanup = async () => {
    socket.destroy();
    await server.close();
  };
  return { socket, received, server };
}

const sub = (cmd: number, ...value: number[]) => [IAC, SB, COM, cmd, ...value, IAC, SE];

describe('RFC 2217 server', () => {
  it('accepts COM-PORT-OPTION and BINARY, refuses ECHO, and answers each request once', async () => {
    const chip = new VirtualEsp32({ name: 'neg' });
    const { socket, received } = await open(chip);
    socket.write(Uint8Array.from([IAC, WILL, COM, IAC, DO, COM, IAC, DO, 1, IAC, WILL, 0, IAC, WILL, COM]));
    await sleep(50);
    expect(received).toEqual([IAC, DO, COM, IAC, WILL, COM, IAC, WONT, 1, IAC, DO, 0]);
  });

  it('answers SET-BAUDRATE and SET-CONTROL with code + 100 and applies DTR/RTS and the baud', async () => {
    const chip = new VirtualEsp32({ name: 'ctl' });
    chip.powerOn();
    const { socket, received, server } = await open(chip);
    socket.write(Uint8Array.from([...sub(1, 0x00, 0x07, 0x08, 0x00), ...sub(5, 11)])); // 460800 baud, RTS on
    await sleep(50);
    expect(received).toEqual([...sub(101, 0x00, 0x07, 0x08, 0x00), ...sub(105, 11)]);
    expect(server.baudHistory).toEqual([460800]);
    expect(chip.getSignals()).toEqual({ dtr: false, rts: true });
    expect(chip.state).toBe('reset');
  });

  it('runs the classic reset as pyserial sends it (one line per message) into download mode', async () => {
    const chip = new VirtualEsp32({ name: 'classic' });
    chip.powerOn();
    const { socket, received } = await open(chip);
    // DTR off, RTS on (+DTR re-sent), wait, DTR on, RTS off (+DTR re-sent), wait, DTR off.
    for (const step of [[9], [11], [9], 'wait', [8], [12], [8], 'wait', [9]] as const) {
      if (step === 'wait') await sleep(60);
      else socket.write(Uint8Array.from(sub(5, step[0])));
      await sleep(5);
    }
    await sleep(30);
    expect(chip.state).toBe('download');
    expect(Buffer.from(received).toString('latin1')).toContain('waiting for download');
  });

  it('escapes 0xFF both ways: IAC IAC from the client is one data byte, chip 0xFF is doubled', async () => {
    const chip = new VirtualEsp32({ name: 'iac' });
    const { socket, received } = await open(chip);
    chip.powerOn();
    for (const code of [9, 11, 8, 12, 9]) {
      socket.write(Uint8Array.from(sub(5, code)));
      await sleep(20);
    }
    expect(chip.state).toBe('download');
    received.length = 0;
    // READ_REG of an address whose bytes contain 0xFF: the request carries IAC IAC on the wire.
    const req = slipEncode(Uint8Array.from([0, 0x0a, 4, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40]));
    socket.write(req);
    await sleep(50);
    expect(Buffer.from(received).toString('hex')).toContain('c0010a0400831df00000000000c0');
    // Write a register value full of 0xFF bytes (sent as IAC IAC) and read it back (doubled again).
    received.length = 0;
    const write = [0, 0x09, 16, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00, 0x3f, 0xff, 0x00, 0xff, 0x12, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    const escaped = [...slipEncode(Uint8Array.from(write))].flatMap((b) => (b === 0xff ? [IAC, IAC] : [b]));
    socket.write(Uint8Array.from(escaped));
    socket.write(slipEncode(Uint8Array.from([0, 0x0a, 4, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00, 0x3f])));
    await sleep(50);
    expect(Buffer.from(received).toString('hex')).toContain('c0010a0400ffff00ffff1200000000c0');
  });
});
