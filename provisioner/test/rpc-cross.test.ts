// The client's codec against the Mongoose OS double, rule by rule (spec mongoose-os.md §3.1,
// §3.2): what our encoder sends the double accepts, and what the double sends our decoder
// reads — the two halves were written apart, so agreement here is agreement on the spec.
import { afterEach, describe, expect, it } from 'vitest';
import type { VirtualEsp32 } from '../../hil-tests/index.ts';
import { RawUart, mgosBoard } from '../../hil-tests/test/helpers/mgos-board.ts';
import { EOF_HANDSHAKE, MAX_FRAME_SIZE, asciiJson, encodeFrame, type RpcFrame } from '../rpc/frame.ts';
import { UartLineDecoder, type UartEvent } from '../rpc/line-decoder.ts';

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
afterEach(() => {
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function board(): Promise<void> {
  chip = await mgosBoard();
  uart = new RawUart(chip);
}

/** Sends our encoding of `frame`, returns what our decoder makes of the double's answer. */
async function exchange(frame: RpcFrame, opts: { crc: boolean; legacy: boolean }): Promise<UartEvent[]> {
  uart.send(encodeFrame(frame, opts));
  const line = new RegExp(`"id":${String(frame.id)},[^\n]*\n`);
  const rx = await uart.until((r) => line.test(r), `reply to ${frame.method}`);
  return new UartLineDecoder().push(Uint8Array.from(Buffer.from(rx, 'latin1')));
}

const frames = (ev: UartEvent[]) => ev.filter((e): e is Extract<UartEvent, { kind: 'frame' }> => e.kind === 'frame');

describe('client codec × Mongoose OS double', () => {
  it('newline frames without CRC: the double answers plainly and our decoder reads it (no CRC, not legacy)', async () => {
    await board();
    const [f] = frames(await exchange({ id: 1, src: 'espfleet', method: 'RPC.Ping' }, { crc: false, legacy: false }));
    expect(f).toMatchObject({ crc: false, legacy: false, frame: { id: 1, dst: 'espfleet', result: null } });
  });

  it('newline frames with CRC: the double answers with a CRC our decoder verifies', async () => {
    await board();
    const [f] = frames(await exchange({ id: 2, method: 'RPC.Ping' }, { crc: true, legacy: false }));
    expect(f).toMatchObject({ crc: true, legacy: false, frame: { id: 2 } });
  });

  it('mos form (legacy + CRC): answered in compat mode with CRC; the empty-frame answers decode as empty', async () => {
    await board();
    const ev = await exchange({ id: 3, src: 'mos', method: 'RPC.Ping' }, { crc: true, legacy: true });
    expect(frames(ev)).toEqual([expect.objectContaining({ crc: true, legacy: true, frame: expect.objectContaining({ id: 3, dst: 'mos' }) })]);
    expect(ev.some((e) => e.kind === 'empty')).toBe(true);
  });

  it('our EOF handshake is answered with what our decoder calls eof/empty', async () => {
    await board();
    uart.send(EOF_HANDSHAKE);
    const rx = await uart.until((r) => r.includes('\x04') && r.endsWith('\n'), 'handshake');
    const kinds = new UartLineDecoder().push(Uint8Array.from(Buffer.from(rx, 'latin1'))).map((e) => e.kind);
    expect(kinds).toContain('eof');
    expect(kinds.every((k) => k === 'eof' || k === 'empty')).toBe(true);
  });

  it('non-ASCII: our \\u escapes reach the board as text and come back the same way', async () => {
    await board();
    const name = 'grüße-✓.txt';
    await exchange({ id: 4, method: 'FS.Put', params: { filename: name, data: 'aGk=', offset: 0 } }, { crc: true, legacy: true });
    const [f] = frames(await exchange({ id: 5, method: 'FS.List' }, { crc: true, legacy: true }));
    expect(f!.raw.split('').every((c) => c.charCodeAt(0) < 0x80)).toBe(true);
    expect(f!.frame.result).toContain(name);
  });

  it('frame limit: the largest frame our encoder allows is accepted by the double', async () => {
    await board();
    const shell = { id: 6, method: 'FS.Put', params: { filename: 'big', data: '', offset: 0 } };
    const room = MAX_FRAME_SIZE - asciiJson(shell).length - 8;
    const data = 'A'.repeat(Math.floor(room / 4) * 4);
    const frame = { ...shell, params: { ...shell.params, data } };
    expect(asciiJson(frame).length + 8).toBeGreaterThan(MAX_FRAME_SIZE - 4);
    const [f] = frames(await exchange(frame, { crc: true, legacy: true }));
    expect(f!.frame).toMatchObject({ id: 6, result: null });
  });

  it('a notification from our encoder (no id) runs on the board and is not answered', async () => {
    await board();
    uart.send(encodeFrame({ method: 'FS.Put', params: { filename: 'note.txt', data: 'aGk=', offset: 0 } }, { crc: true, legacy: false }));
    expect(await uart.quiet()).not.toContain('{');
    const [f] = frames(await exchange({ id: 7, method: 'FS.List' }, { crc: true, legacy: false }));
    expect(f!.frame.result).toContain('note.txt');
  });

  it("the double's 404 error object decodes as {code, message}", async () => {
    await board();
    const [f] = frames(await exchange({ id: 8, method: 'No.Such' }, { crc: true, legacy: true }));
    expect(f!.frame.error).toEqual({ code: 404, message: 'No handler for No.Such' });
  });
});
