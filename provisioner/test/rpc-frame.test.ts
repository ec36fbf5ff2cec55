// The RPC frame codec byte for byte (spec mongoose-os.md §3.1 framing, §3.2 fields): each
// framing rule its own test, CRCs checked against zlib's CRC-32, and a seeded decoder fuzz.
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { RpcError } from '../rpc/errors.ts';
import { EOF_HANDSHAKE, MAX_FRAME_SIZE, asciiJson, crcHex, encodeFrame, isNotification, parseFrameBody, sameId } from '../rpc/frame.ts';
import { UartLineDecoder, type UartEvent } from '../rpc/line-decoder.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const zcrc = (s: string) => zlibCrc32(Buffer.from(s, 'latin1')).toString(16).padStart(8, '0');

function decodeAll(s: string | Uint8Array, chunk = 0): UartEvent[] {
  const d = new UartLineDecoder();
  const b = typeof s === 'string' ? bytes(s) : s;
  if (chunk <= 0) return d.push(b);
  const out: UartEvent[] = [];
  for (let i = 0; i < b.length; i += chunk) out.push(...d.push(b.subarray(i, i + chunk)));
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return (e as RpcError).code;
  }
  return undefined;
}

describe('RPC framing (§3.1)', () => {
  it('newline delimiter: a device frame without CRC is \\n JSON \\n', () => {
    const out = encodeFrame({ id: 7, src: 'esp32_A1B2C3', dst: 'mos', result: null }, { crc: false, legacy: false });
    expect(text(out)).toBe('\n{"id":7,"src":"esp32_A1B2C3","dst":"mos","result":null}\n');
  });

  it('legacy delimiters with CRC: mos form \\n""" JSON crc8hex """\\n', () => {
    const json = '{"src":"mos","id":1234567890123,"method":"Sys.GetInfo"}';
    const out = encodeFrame({ src: 'mos', id: 1234567890123, method: 'Sys.GetInfo' }, { crc: true, legacy: true });
    expect(text(out)).toBe(`\n"""${json}${zcrc(json)}"""\n`);
  });

  it('CRC trailer: CRC-32/IEEE of the JSON bytes, 8 lowercase hex digits (zlib agrees)', () => {
    expect(crcHex('123456789')).toBe('cbf43926');
    for (const s of ['{}', '{"id":1}', '{"result":{"a":[1,2,3]}}']) expect(crcHex(s)).toBe(zcrc(s));
    const out = text(encodeFrame({ id: 1, result: 'x' }, { crc: true, legacy: false }));
    expect(out).toMatch(/^\n\{"id":1,"result":"x"\}[0-9a-f]{8}\n$/);
  });

  it('CRC checked only when ≥ 8 metadata characters follow the }', () => {
    expect(parseFrameBody('{"id":1}').crc).toBe(false);
    expect(parseFrameBody('{"id":1}abc').crc).toBe(false); // < 8 chars: not a CRC, not checked
    expect(parseFrameBody(`{"id":1}${zcrc('{"id":1}')}`).crc).toBe(true);
    expect(parseFrameBody(`{"id":1}${zcrc('{"id":1}').toUpperCase()}`).crc).toBe(true);
    expect(codeOf(() => parseFrameBody('{"id":1}00000000'))).toBe('rpc.frame.bad_crc');
    expect(codeOf(() => parseFrameBody('{"id":1}zzzzzzzz'))).toBe('rpc.frame.bad_crc');
  });

  it('metadata after the CRC is comma-separated and kept', () => {
    const p = parseFrameBody(`{"id":2}${zcrc('{"id":2}')},x,y`);
    expect(p).toMatchObject({ crc: true, meta: ['x', 'y'] });
  });

  it('non-ASCII rule: the encoder escapes as \\uXXXX; a byte ≥ 0x80 in a frame is refused', () => {
    expect(asciiJson({ s: 'Grüße ✓ 😀' })).toBe('{"s":"Gr\\u00fc\\u00dfe \\u2713 \\ud83d\\ude00"}');
    const out = encodeFrame({ id: 1, result: 'é' }, { crc: true, legacy: false });
    expect(out.every((b) => b < 0x80)).toBe(true);
    expect(JSON.parse(text(out).trim().slice(0, -8)).result).toBe('é');
    expect(codeOf(() => parseFrameBody('{"s":"\xe9"}'))).toBe('rpc.frame.non_ascii');
    const ev = decodeAll(Buffer.concat([Buffer.from('{"id":1,"result":"'), Buffer.from([0xc3, 0xa9]), Buffer.from('"}\n')]));
    expect(ev).toEqual([expect.objectContaining({ kind: 'bad' })]);
    expect((ev[0] as { error: RpcError }).error.code).toBe('rpc.frame.non_ascii');
  });

  it('frame size limit: JSON + trailer up to 4096 bytes is sent, one byte more is refused', () => {
    const pad = (n: number) => ({ id: 1, method: 'FS.Put', params: { data: 'A'.repeat(n) } });
    const base = asciiJson(pad(0)).length + 8;
    expect(encodeFrame(pad(MAX_FRAME_SIZE - base), { crc: true, legacy: true }).length).toBe(MAX_FRAME_SIZE + 8);
    expect(codeOf(() => encodeFrame(pad(MAX_FRAME_SIZE - base + 1), { crc: true, legacy: true }))).toBe('rpc.frame.too_large');
    const big = `{"id":1,"result":"${'B'.repeat(MAX_FRAME_SIZE)}"}\n`;
    expect(decodeAll(big).map((e) => e.kind === 'bad' && e.error.code)).toEqual(['rpc.frame.too_large']);
  });

  it('EOF handshake bytes, and the device answer """\\x04""" decoded as eof', () => {
    expect(text(EOF_HANDSHAKE)).toBe('"""\x04"""\n\n');
    expect(decodeAll('"""\x04"""\n\n').map((e) => e.kind)).toEqual(['eof', 'empty']);
  });

  it('empty and whitespace-only lines are empty frames, not logs', () => {
    expect(decodeAll('\n \r\n\t\n').map((e) => e.kind)).toEqual(['empty', 'empty', 'empty']);
  });

  it('log lines between frames are log text (UTF-8), frames around them decode', () => {
    const s = `I (123) mgos: booting\r\n"""{"id":1,"result":true}"""\n[Dec 2 02:00:00.000] Grüße\r\n{"id":2,"result":false}\n`;
    const ev = decodeAll(bytes(Buffer.from(s, 'utf8').toString('latin1')));
    expect(ev.map((e) => e.kind)).toEqual(['log', 'frame', 'log', 'frame']);
    expect(ev[0]).toEqual({ kind: 'log', text: 'I (123) mgos: booting' });
    expect(ev[2]).toEqual({ kind: 'log', text: '[Dec 2 02:00:00.000] Grüße' });
    expect(ev[1]).toMatchObject({ legacy: true, frame: { id: 1, result: true } });
    expect(ev[3]).toMatchObject({ legacy: false, frame: { id: 2, result: false } });
  });

  it('XON/XOFF are stripped wherever they fall and reported as flow events', () => {
    const ev = decodeAll('{"id":\x131,"res\x11ult":1}\n');
    expect(ev).toEqual([{ kind: 'flow', paused: true }, { kind: 'flow', paused: false }, expect.objectContaining({ kind: 'frame', frame: { id: 1, result: 1 } })]);
  });

  it('frames split across reads decode the same as whole ones', () => {
    const s = `log\n"""{"id":5,"result":[1,2]}${zcrc('{"id":5,"result":[1,2]}')}"""\n`;
    expect(decodeAll(s, 1)).toEqual(decodeAll(s));
    expect(decodeAll(s, 3)).toEqual(decodeAll(s));
  });
});

describe('RPC frame fields (§3.2)', () => {
  it('ids: numbers and digit strings are the same id (the device echoes digits unquoted)', () => {
    expect(sameId(1234567890123, '1234567890123')).toBe(true);
    expect(sameId(12, 13)).toBe(false);
    expect(sameId(undefined, undefined)).toBe(false);
    expect(parseFrameBody('{"id":"abc","result":1}').frame.id).toBe('abc');
    expect(codeOf(() => parseFrameBody('{"id":9007199254740993,"result":1}'))).toBe('rpc.frame.bad_field');
    expect(codeOf(() => parseFrameBody('{"id":true}'))).toBe('rpc.frame.bad_field');
  });

  it('src and dst are carried as given', () => {
    expect(parseFrameBody('{"id":1,"src":"esp32_A1B2C3","dst":"mos","result":null}').frame).toEqual({ id: 1, src: 'esp32_A1B2C3', dst: 'mos', result: null });
    expect(codeOf(() => parseFrameBody('{"id":1,"dst":5}'))).toBe('rpc.frame.bad_field');
  });

  it('a request without id is a notification', () => {
    expect(isNotification(parseFrameBody('{"method":"Sys.Log","params":{}}').frame)).toBe(true);
    expect(isNotification(parseFrameBody('{"id":1,"method":"RPC.Ping"}').frame)).toBe(false);
    expect(text(encodeFrame({ method: 'Sys.Log', params: { a: 1 } }, { crc: false, legacy: false }))).toBe('\n{"method":"Sys.Log","params":{"a":1}}\n');
  });

  it('error objects: {code, message} decoded; a malformed error is refused', () => {
    expect(parseFrameBody('{"id":3,"error":{"code":404,"message":"No handler for X.Y"}}').frame.error).toEqual({ code: 404, message: 'No handler for X.Y' });
    expect(parseFrameBody('{"id":3,"error":{"code":0}}').frame.error).toEqual({ code: 0, message: '' });
    expect(codeOf(() => parseFrameBody('{"id":3,"error":"boom"}'))).toBe('rpc.frame.bad_field');
  });

  it('args is accepted as the deprecated synonym of params', () => {
    expect(parseFrameBody('{"id":1,"method":"FS.List","args":{"path":"/"}}').frame.params).toEqual({ path: '/' });
  });

  it('non-objects and broken JSON are typed errors', () => {
    expect(codeOf(() => parseFrameBody('{"id":1'))).toBe('rpc.frame.bad_json');
    expect(codeOf(() => parseFrameBody('{]}'))).toBe('rpc.frame.bad_json');
    expect(codeOf(() => parseFrameBody('[1]'))).toBe('rpc.frame.bad_json');
  });
});

describe('RPC decoder fuzz', () => {
  it('seeded mutations of frame streams give only typed events, never a throw', () => {
    const rnd = new SeededRandom(0x13c0de);
    const frames = [
      encodeFrame({ id: 11, src: 'esp32_A1B2C3', result: { app: 'x', mac: 'A1B2C3D4E5F6' } }, { crc: true, legacy: false }),
      encodeFrame({ id: 12, error: { code: 404, message: 'No handler for Nope' } }, { crc: true, legacy: true }),
      bytes('I (10) boot: log line\r\n'),
      EOF_HANDSHAKE,
    ];
    for (let round = 0; round < 3000; round++) {
      let input: Uint8Array = Buffer.concat(Array.from({ length: rnd.int(1, 4) }, () => rnd.pick(frames)));
      for (let m = rnd.int(1, 4); m > 0; m--) input = rnd.mutate(input);
      const d = new UartLineDecoder();
      let ev: UartEvent[] = [];
      expect(() => (ev = [...d.push(input.subarray(0, input.length >> 1)), ...d.push(input.subarray(input.length >> 1))]), `round ${round}`).not.toThrow();
      for (const e of ev) if (e.kind === 'bad') expect(e.error).toBeInstanceOf(RpcError);
      for (let k = 0; k < 4; k++) {
        const body = text(rnd.mutate(frames[0]!)).trim();
        try {
          parseFrameBody(body);
        } catch (e) {
          expect(e, `round ${round}: ${body}`).toBeInstanceOf(RpcError);
        }
      }
    }
  });
});
