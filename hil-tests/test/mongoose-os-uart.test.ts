// The Mongoose OS double's UART0 byte for byte (spec mongoose-os.md §3.1 framing, §3.2
// fields): each framing rule its own test, driven with raw bytes, not with our client.
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { VirtualEsp32 } from '../index.ts';
import { RawUart, mgosBoard } from './helpers/mgos-board.ts';

const crc = (s: string) => crc32(Buffer.from(s, 'latin1')).toString(16).padStart(8, '0');

let chip: VirtualEsp32 | undefined;
let uart: RawUart;
afterEach(() => {
  uart?.close();
  chip?.powerOff();
  chip = undefined;
});

async function board(files: Record<string, string> = {}): Promise<{ id: string }> {
  chip = await mgosBoard({ files });
  uart = new RawUart(chip);
  uart.send('{"id":1,"method":"Sys.GetInfo"}\n');
  const info = JSON.parse((await uart.until((r) => r.includes('}\n'), 'GetInfo')).trim()) as { result: { id: string } };
  return { id: info.result.id };
}

const frameLine = (rx: string) => rx.includes('}') && rx.endsWith('\n');

describe('Mongoose OS double: UART framing (§3.1)', () => {
  it('newline delimiter: a plain frame gets a plain reply, \\n JSON \\n, src = device.id, dst = our src', async () => {
    const { id } = await board();
    uart.send('{"id":5,"src":"t","method":"RPC.Ping"}\n');
    expect(await uart.until(frameLine, 'reply')).toBe(`\n{"id":5,"src":"${id}","dst":"t","result":null}\n`);
  });

  it('legacy """ delimiters switch the channel to compat mode: replies are wrapped in """ from then on', async () => {
    const { id } = await board();
    uart.send('"""{"id":6,"method":"RPC.Ping"}"""');
    expect(await uart.until((r) => r.endsWith('"""\n'), 'reply')).toBe(`\n\n"""{"id":6,"src":"${id}","result":null}"""\n`);
    uart.send('{"id":7,"method":"RPC.Ping"}\n');
    expect(await uart.until((r) => r.endsWith('"""\n'), 'reply')).toBe(`\n"""{"id":7,"src":"${id}","result":null}"""\n`);
  });

  it('CRC trailer: a frame with a good CRC is answered with a lowercase CRC, and every later frame carries one', async () => {
    const { id } = await board();
    const req = '{"id":8,"method":"RPC.Ping"}';
    uart.send(`${req}${crc(req).toUpperCase()}\n`);
    const json = `{"id":8,"src":"${id}","result":null}`;
    expect(await uart.until(frameLine, 'reply')).toBe(`\n${json}${crc(json)}\n`);
    uart.send('{"id":9,"method":"RPC.Ping"}\n');
    const json9 = `{"id":9,"src":"${id}","result":null}`;
    expect(await uart.until(frameLine, 'reply')).toBe(`\n${json9}${crc(json9)}\n`);
  });

  it('a bad CRC drops the frame (a log line, no reply); fewer than 8 trailer chars are not checked', async () => {
    await board();
    uart.send('{"id":10,"method":"RPC.Ping"}0badf00d\n');
    const rx = await uart.until((r) => r.includes('CRC mismatch'), 'log');
    expect(rx).not.toContain('"id":10');
    uart.send('{"id":11,"method":"RPC.Ping"}abc\n');
    expect(await uart.until(frameLine, 'reply')).toContain('"id":11');
  });

  it('mos form: \\n""" JSON crc """\\n is answered with the EOF-style empty frames and a """-wrapped, CRC-carrying reply', async () => {
    const { id } = await board();
    const req = '{"src":"mos","id":1234567890123,"method":"RPC.Ping"}';
    uart.send(`\n"""${req}${crc(req)}"""\n`);
    const json = `{"id":1234567890123,"src":"${id}","dst":"mos","result":null}`;
    expect(await uart.until((r) => r.includes(json) && r.endsWith('\n\n'), 'reply')).toBe(`\n\n\n"""${json}${crc(json)}"""\n\n`);
  });

  it('non-ASCII rule: a byte ≥ 0x80 clears the whole receive buffer', async () => {
    await board();
    uart.send(Uint8Array.from([...Buffer.from('{"id":12,"method":"RPC'), 0xc3, 0xa9, ...Buffer.from('.Ping"}\n')]));
    expect(await uart.quiet()).toBe(''); // what is left ('.Ping"}') has no '{': not a frame, no answer
    uart.send('{"id":12,"method":"RPC.Ping"}\n');
    expect(await uart.until(frameLine, 'reply')).toContain('"id":12');
  });

  it('leading junk before { is skipped', async () => {
    await board();
    uart.send('garbage here {"id":13,"method":"RPC.Ping"}\n');
    expect(await uart.until(frameLine, 'reply')).toContain('"id":13');
  });

  it('an empty or whitespace-only frame is answered with a bare \\n; EOF (0x04) with """\\x04"""', async () => {
    await board();
    uart.send('  \n');
    expect(await uart.until((r) => r.length > 0, 'empty answer')).toBe('\n');
    uart.send('\x04\n');
    expect(await uart.until((r) => r.includes('\x04'), 'eof answer')).toBe('"""\x04"""');
    uart.send('"""\x04"""\n\n');
    expect(await uart.until((r) => r.split('\n').length >= 4, 'handshake answer')).toBe('\n"""\x04"""\n\n');
  });

  it('frame size limit: more than max_frame_size + 6 buffered bytes are dropped (XOFF/XON paces the host meanwhile)', async () => {
    await board();
    uart.send(`{"id":14,"method":"FS.Put","params":{"filename":"x","data":"${'A'.repeat(4100)}"}}\n`);
    const rx = await uart.until((r) => r.includes('too long') && r.includes('\x11'), 'drop');
    expect(rx).toContain('\x13');
    expect(rx).not.toContain('"id":14');
    const ok = 'A'.repeat(3000);
    uart.send(`{"id":15,"method":"FS.Put","params":{"filename":"x","data":"${ok}"}}\n`);
    const rx2 = await uart.until((r) => r.includes('"id":15'), 'reply');
    expect(rx2.indexOf('\x13')).toBeLessThan(rx2.indexOf('\x11'));
    expect(rx2).toContain('"result":null');
  });
});

describe('Mongoose OS double: frame fields (§3.2)', () => {
  it('a digit-only string id is echoed as a number; other strings as strings', async () => {
    await board();
    uart.send('{"id":"4242","method":"RPC.Ping"}\n');
    expect(await uart.until(frameLine, 'reply')).toMatch(/^\n\{"id":4242,/);
    uart.send('{"id":"ab1","method":"RPC.Ping"}\n');
    expect(await uart.until(frameLine, 'reply')).toMatch(/^\n\{"id":"ab1",/);
  });

  it('a request without id is a notification: it runs, nothing is sent back', async () => {
    await board();
    uart.send('{"method":"FS.Put","params":{"filename":"n.txt","data":"aGk=","offset":0}}\n');
    expect(await uart.quiet()).toBe('');
    uart.send('{"id":16,"method":"FS.List"}\n');
    expect(await uart.until(frameLine, 'reply')).toContain('"n.txt"');
  });

  it('dst: a frame for another device is dropped ("Wrong dst"); its own id is answered', async () => {
    const { id } = await board();
    uart.send('{"id":17,"dst":"esp32_000000","method":"RPC.Ping"}\n');
    const rx = await uart.until((r) => r.includes('Wrong dst'), 'log');
    expect(rx).not.toContain('"id":17');
    uart.send(`{"id":18,"dst":"${id}","method":"RPC.Ping"}\n`);
    expect(await uart.until(frameLine, 'reply')).toContain('"id":18');
  });

  it('tag is echoed; args is accepted for params', async () => {
    await board();
    uart.send('{"id":19,"tag":"t1","method":"FS.ListExt","args":{"path":"/"}}\n');
    const rx = await uart.until(frameLine, 'reply');
    expect(rx).toContain('"tag":"t1"');
    expect(rx).toContain('{"name":"conf0.json","size":2}');
  });

  it('an unknown method is error 404 "No handler for <method>"', async () => {
    const { id } = await board();
    uart.send('{"id":20,"method":"Nope.Nope"}\n');
    expect(await uart.until(frameLine, 'reply')).toBe(`\n{"id":20,"src":"${id}","error":{"code":404,"message":"No handler for Nope.Nope"}}\n`);
  });

  it('log lines go between frames and never look like frames', async () => {
    chip = await mgosBoard();
    const lines = chip.bootLog().split(/\r?\n/).filter((l) => l.includes('mgos_'));
    expect(lines.length).toBeGreaterThan(4);
    for (const l of lines) expect(l.startsWith('{') || l.startsWith('"""')).toBe(false);
  });
});
