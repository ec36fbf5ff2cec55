// The virtual ESP32's own rules, byte for byte: SLIP, reply layouts (ROM vs stub), reset
// wiring and banner, eFuse controller semantics, MAC CRC, NOR flash, state file, faults.
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { decode34, encode34, decodeState, encodeState, macCrc8, VirtualEsp32, EfuseController, NorFlash } from '../index.ts';
import { SlipDecoder, slipEncode } from '../virtual-esp32/slip.ts';
import { SYNC_DATA, SlipHost, sleep, words } from './helpers/slip-host.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const EFUSE_BASE = 0x3ff5a000;

describe('SLIP', () => {
  it('escapes 0xDB before 0xC0 and decodes across chunk boundaries', () => {
    const enc = slipEncode(Uint8Array.from([0x01, 0xc0, 0xdb, 0x02]));
    expect(hex(enc)).toBe('c001dbdcdbdd02c0');
    const frames: Uint8Array[] = [];
    const dec = new SlipDecoder((f) => frames.push(f));
    dec.push(enc.subarray(0, 3));
    dec.push(enc.subarray(3));
    expect(frames.map(hex)).toEqual(['01c0db02']);
  });

  it('drops a frame with a bad escape and recovers at the next delimiter', () => {
    const frames: Uint8Array[] = [];
    const dec = new SlipDecoder((f) => frames.push(f));
    dec.push(Uint8Array.from([0xc0, 0x01, 0xdb, 0x00, 0xc0, 0x02, 0xc0]));
    expect(frames.map(hex)).toEqual(['02']);
  });
});

describe('ROM loader replies', () => {
  it('prints the v3 ROM banner on a classic reset and answers SYNC eight times with a non-zero value', async () => {
    const chip = new VirtualEsp32({ name: 'rom', revision: 3 });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    expect(chip.bootLog()).toBe(
      'ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n',
    );
    host.send(0x08, SYNC_DATA);
    const replies = await host.next(8);
    expect(replies.map(hex)).toEqual(new Array(8).fill('010804000707122000000000'));
  });

  it('reads the chip magic, MAC words and answers the ROM MD5 as 32 ASCII hex', async () => {
    const chip = new VirtualEsp32({ name: 'regs', mac: '94:b9:7e:5a:6e:58' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    host.send(0x0a, words(0x40001000));
    host.send(0x0a, words(EFUSE_BASE + 4));
    host.send(0x0a, words(EFUSE_BASE + 8));
    const [magic, w1, w2] = await host.next(3);
    expect(hex(magic as Uint8Array)).toBe('010a0400831df00000000000'); // the real trace, issue #921
    expect(hex(w1 as Uint8Array)).toBe('010a0400586e5a7e00000000');
    expect(hex(w2 as Uint8Array)).toBe('010a0400b994e20000000000'); // CRC 0xE2 in bits 23:16
    chip.flash.program(0, Uint8Array.from([1, 2, 3]));
    host.send(0x13, words(0, 3, 0, 0));
    const [md5] = await host.next();
    expect(Buffer.from(md5 as Uint8Array).subarray(8, 40).toString('latin1')).toBe('5289df737df57326fcdd22597afb1fac');
    expect(hex((md5 as Uint8Array).subarray(40))).toBe('00000000');
  });

  it('reports a bad FLASH_DATA checksum as status 1 / error 0x07 in the ROM', async () => {
    const chip = new VirtualEsp32({ name: 'chk' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    host.send(0x02, words(0x1000, 1, 0x400, 0x10000));
    host.sendData(0x03, 0, new Uint8Array(0x400).fill(0x11), 0x42);
    const [begin, data] = await host.next(2);
    expect(hex((begin as Uint8Array).subarray(8))).toBe('00000000');
    expect(hex((data as Uint8Array).subarray(0, 4))).toBe('01030400');
    expect(hex((data as Uint8Array).subarray(8))).toBe('01070000');
  });

  it('inflates a zlib stream split across ROM FLASH_DEFL_DATA packets', async () => {
    const chip = new VirtualEsp32({ name: 'defl' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    const plain = new SeededRandom(8).bytes(3000);
    plain.fill(0x33, 1000, 2000);
    const z = new Uint8Array(deflateSync(plain, { level: 9 }));
    const half = Math.ceil(z.length / 2);
    // The ROM wants the size rounded up to the 1 KiB block and erases it up front.
    host.send(0x10, words(0xc00, 2, half, 0x21000));
    host.sendData(0x11, 0, z.subarray(0, half));
    host.sendData(0x11, 1, z.subarray(half));
    const replies = await host.next(3);
    expect(replies.map((r) => hex(r.subarray(8)))).toEqual(['00000000', '00000000', '00000000']);
    expect(Buffer.from(chip.flash.read(0x21000, plain.length)).equals(Buffer.from(plain))).toBe(true);
    host.sendData(0x11, 2, Uint8Array.of(1, 2, 3, 4, 5)); // garbage after the end of the stream
    const [late] = await host.next();
    expect(late?.[8]).toBe(0);
  });

  it('paces bytes at baud/10 per second when throttled', async () => {
    const chip = new VirtualEsp32({ name: 'slow', throttle: true });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    await sleep(30); // let the banner drain
    const start = performance.now();
    host.send(0x08, SYNC_DATA); // 46 bytes in, 8 × 14 bytes out at 115200 baud
    const replies = await host.next(8);
    while (host.frames.length + replies.length < 8 && performance.now() - start < 500) replies.push(...(await host.next()));
    const elapsed = performance.now() - start;
    expect(replies).toHaveLength(8);
    expect(elapsed).toBeGreaterThanOrEqual(((46 + 8 * 14) / 11520) * 1000 - 1);
  });

  it('answers an unsupported opcode (GET_SECURITY_INFO) eight times with error 0x05 and a different opcode', async () => {
    const chip = new VirtualEsp32({ name: 'unsup' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    host.send(0x14);
    const replies = await host.next(8);
    expect(replies).toHaveLength(8);
    for (const r of replies) expect(hex(r)).toBe('010004000000000001050000');
  });

  it('switches to the stub dialect after MEM_END to a known entry: OHAI after the reply, 2 status bytes, raw MD5', async () => {
    const chip = new VirtualEsp32({ name: 'stub' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    const text = new Uint8Array(0x100);
    host.send(0x05, words(text.length, 1, 0x1800, 0x400a9000));
    host.sendData(0x07, 0, text);
    host.send(0x06, words(0, 0x400a902c));
    const [, , memEnd, ohai] = await host.next(4);
    expect(hex(memEnd as Uint8Array)).toBe('010604000000000000000000');
    expect(Buffer.from(ohai as Uint8Array).toString('latin1')).toBe('OHAI');
    expect(chip.dialect).toBe('esp-flasher-stub');
    host.send(0x13, words(0, 16, 0, 0));
    const [md5] = await host.next();
    expect(hex((md5 as Uint8Array).subarray(0, 4))).toBe('01131200');
    expect((md5 as Uint8Array).length).toBe(8 + 16 + 2);
    host.send(0x0d, words(0, 0)); // 8-byte SPI_ATTACH is ROM-only
    const [attach] = await host.next();
    expect(hex((attach as Uint8Array).subarray(8))).toBe('c000');
  });

  it('goes quiet after MEM_END to code it cannot run', async () => {
    const chip = new VirtualEsp32({ name: 'quiet' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    host.send(0x05, words(4, 1, 0x1800, 0x40080000));
    host.sendData(0x07, 0, new Uint8Array(4));
    host.send(0x06, words(0, 0x40080000));
    await host.next(3);
    expect(chip.state).toBe('halted');
    host.send(0x08, SYNC_DATA);
    expect(await host.next()).toEqual([]);
  });
});

describe('reset wiring', () => {
  it('does not reset while both lines are asserted, and a hard reset boots from flash', async () => {
    const chip = new VirtualEsp32({ name: 'wires' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    const resets = chip.resets;
    chip.setSignals({ dtr: true, rts: true });
    await sleep(20);
    expect(chip.resets).toBe(resets);
    expect(chip.state).toBe('download');
    chip.setSignals({ dtr: false, rts: true });
    await sleep(5);
    chip.setSignals({ dtr: false, rts: false });
    await sleep(20);
    expect(chip.resets).toBe(resets + 1);
    expect(chip.bootLog()).toContain('boot:0x13 (SPI_FAST_FLASH_BOOT)');
  });

  it('a UnixTight sequence (both lines per step) and a (1,1) glitch shorter than the EN delay still reach download mode', async () => {
    const chip = new VirtualEsp32({ name: 'tight' });
    chip.powerOn();
    for (const [dtr, rts] of [[false, false], [true, true], [false, true]] as const) chip.setSignals({ dtr, rts });
    await sleep(10);
    chip.setSignals({ dtr: true, rts: true }); // the classic sequence's in-between state
    chip.setSignals({ dtr: true, rts: false });
    await sleep(20);
    chip.setSignals({ dtr: false, rts: false });
    expect(chip.state).toBe('download');
    expect(chip.bootLog()).toContain('waiting for download');
  });
});

describe('eFuse controller', () => {
  const conf = (e: EfuseController, v: number) => e.writeRegister(0x0fc, v);
  const cmd = (e: EfuseController, v: number) => e.writeRegister(0x104, v);
  const burn = (e: EfuseController) => {
    conf(e, 0x5a5a);
    cmd(e, 2);
    conf(e, 0x5aa5);
    cmd(e, 1);
  };

  it('programs only with CONF 0x5A5A, shows results only after a READ, and never clears a bit', () => {
    const e = new EfuseController();
    e.writeRegister(0x01c, 0x00100000); // WDATA0: FLASH_CRYPT_CNT = 1
    conf(e, 0x1234);
    cmd(e, 2);
    expect(e.hardwareField('FLASH_CRYPT_CNT')).toBe(0);
    conf(e, 0x5a5a);
    cmd(e, 2);
    expect(e.readRegister(0x104)).toBe(0);
    expect(e.hardwareField('FLASH_CRYPT_CNT')).toBe(1);
    expect(e.readRegister(0x000)).toBe(0); // RDATA not reloaded yet
    conf(e, 0x5aa5);
    cmd(e, 1);
    expect(e.readRegister(0x000)).toBe(0x00100000);
    e.writeRegister(0x01c, 0x00200000); // try to "set" CNT to 2: bit 0 stays
    burn(e);
    expect(e.hardwareField('FLASH_CRYPT_CNT')).toBe(3);
  });

  it('masks write-protected bits at program time and hides read-protected keys while the hardware keeps them', () => {
    const e = new EfuseController();
    for (let i = 0; i < 8; i++) e.writeRegister(0x098 + 4 * i, 0x11111111 * (i + 1));
    e.writeRegister(0x01c, (1 << 7) | (1 << 16)); // WR_DIS bit 7 (BLK1) + RD_DIS bit 0 in the same burn
    burn(e);
    expect(e.readRegister(0x038)).toBe(0);
    expect(e.hardwareBlockWords(1)[0]).toBe(0x11111111);
    for (let i = 0; i < 8; i++) e.writeRegister(0x098 + 4 * i, 0xffffffff);
    burn(e);
    expect(e.hardwareBlockWords(1)[0]).toBe(0x11111111);
    // BLK0 fields behind WR_DIS bit 2 (FLASH_CRYPT_CNT) are masked, others still burn.
    e.writeRegister(0x01c, 1 << 2);
    burn(e);
    e.writeRegister(0x01c, 0x00100000);
    e.writeRegister(0x034, 1 << 6); // JTAG_DISABLE (WR_DIS bit 14, not set)
    burn(e);
    expect(e.hardwareField('FLASH_CRYPT_CNT')).toBe(0);
    expect(e.hardwareField('JTAG_DISABLE')).toBe(1);
  });

  it('decodes 3/4-coded blocks and flags a group whose check bytes no longer match', () => {
    const data = new SeededRandom(4).bytes(24);
    const raw = encode34(data);
    expect(Buffer.from(new Uint8Array(decode34(raw).words.buffer).subarray(0, 24)).equals(Buffer.from(data))).toBe(true);
    const e = new EfuseController([[0, 0, 0, 0, 0, 0, 1], Array.from(raw)]);
    expect(e.readRegister(0x11c) & 0xfff).toBe(0);
    e.writeRegister(0x098, 0x80000000); // ORs a bit into group 0's data
    burn(e);
    expect(e.readRegister(0x11c) & 0xf).toBe(1);
  });

  it('computes the MAC CRC-8 of the spec vectors', () => {
    const v = (s: string) => Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
    expect(macCrc8(v('94:b9:7e:5a:6e:58'))).toBe(0xe2);
    expect(macCrc8(v('c8:f0:9e:b1:82:78'))).toBe(0xff);
    expect(macCrc8(v('ab:cd:ef:11:22:33'))).toBe(0x54);
    expect(macCrc8(v('48:63:92:15:72:16'))).toBe(0x75);
  });
});

describe('flash and state', () => {
  it('programs only clear bits and erases whole sectors', () => {
    const f = new NorFlash(4 << 20);
    f.program(0x1000, Uint8Array.of(0x0f));
    f.program(0x1000, Uint8Array.of(0xf0));
    expect(f.read(0x1000, 1)[0]).toBe(0x00);
    f.eraseCovering(0x1ffe, 4);
    expect(f.read(0x1000, 1)[0]).toBe(0xff);
    expect(() => f.read(4 << 20, 1)).toThrow(expect.objectContaining({ code: 'sim.flash.out_of_range' }));
  });

  it('saves only non-blank sectors and restores flash, eFuses and options', () => {
    const chip = new VirtualEsp32({ name: 'persist', mac: '24:0a:c4:00:00:09', revision: 1, flashSize: '8MB', efuseFields: { JTAG_DISABLE: 1 } });
    chip.flash.program(0x3000, Uint8Array.of(1, 2, 3));
    chip.flash.program(0x7ff000, Uint8Array.of(9));
    const file = encodeState(chip);
    expect(file.length).toBeLessThan(2 * 4096 + 2048);
    const back = decodeState(file);
    expect(back.options.revision).toBe(1);
    expect(back.options.flashSize).toBe(8 << 20);
    expect(Array.from(back.options.mac)).toEqual([0x24, 0x0a, 0xc4, 0, 0, 9]);
    expect(Buffer.from(back.flash.bytes).equals(Buffer.from(chip.flash.bytes))).toBe(true);
    expect(back.efuse.hardwareField('JTAG_DISABLE')).toBe(1);
    expect(() => decodeState(Uint8Array.of(1, 2, 3))).toThrow(expect.objectContaining({ code: 'sim.state.bad_format' }));
  });
});

describe('faults', () => {
  it('a power cut after N bytes silences the chip until the next reset', async () => {
    const chip = new VirtualEsp32({ name: 'cut' });
    const host = new SlipHost(chip);
    await host.enterDownloadMode();
    chip.injectPowerLoss({ afterRxBytes: 10 });
    host.send(0x08, SYNC_DATA);
    expect(await host.next()).toEqual([]);
    expect(chip.state).toBe('dead');
    expect(chip.powerCuts).toEqual(['after 10 received bytes']);
    await host.enterDownloadMode();
    host.send(0x08, SYNC_DATA);
    expect(await host.next(8)).toHaveLength(8);
  });

  it('seeded line corruption is repeatable', () => {
    const run = () => {
      const chip = new VirtualEsp32({ name: 'noise', lineFaults: { corruptRate: 0.5, dropRate: 0.1, seed: 42 } });
      const out: number[] = [];
      chip.onTransmit((b) => out.push(...b));
      chip.powerOn();
      return out;
    };
    const a = run();
    expect(a).toEqual(run());
    expect(Buffer.from(a).toString('latin1')).not.toContain('ets Jul 29 2019 12:21:46');
  });
});
