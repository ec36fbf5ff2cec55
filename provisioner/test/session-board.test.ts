// The board session against the virtual ESP32 in-process (SimTransport): facts, MD5 in ROM
// and stub modes, reads, sector-skipping writes, and the failure modes that must give
// one clear error (wrong chip, silent board, vanished port, power loss) and then repair.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TransportError } from '../transport/errors.ts';
import { SimTransport } from '../../hil-tests/virtual-esp32/index.ts';
import { createHash } from 'node:crypto';
import { openBoardSession, type BoardSession, type WriteProgress } from '../session/index.ts';
import { SessionError } from '../session/errors.ts';
import { differingSectors, flashBytes, testBoard, type TestBoard } from './session-fixtures.ts';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';

const boards: TestBoard[] = [];
const sessions: BoardSession[] = [];
function board(opts: Parameters<typeof testBoard>[0] = {}): TestBoard {
  const b = testBoard(opts);
  boards.push(b);
  return b;
}
async function open(b: TestBoard, opts: Parameters<typeof openBoardSession>[1] = {}): Promise<BoardSession> {
  const s = await openBoardSession(b.transport(), opts);
  sessions.push(s);
  return s;
}
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
  for (const b of boards.splice(0)) await b.dispose();
});

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
function flip(bytes: Uint8Array, at: number, mask: number): void {
  bytes[at] = (bytes[at] ?? 0) ^ mask;
}
async function rejection(p: Promise<unknown>): Promise<SessionError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SessionError);
    return e as SessionError;
  }
  throw new Error('expected a SessionError, the call succeeded');
}

describe('chip facts', () => {
  it('reads what the board is: MAC, revision, flash, crystal, eFuse security state', async () => {
    const b = board({
      mac: '24:0a:c4:12:34:56',
      revision: 1,
      flashSize: '8MB',
      xtalMhz: 26,
      efuseFields: { FLASH_CRYPT_CNT: 0b1, FLASH_CRYPT_CONFIG: 0xf, JTAG_DISABLE: 1, DISABLE_DL_DECRYPT: 1, WR_DIS: 1 << 7 },
    });
    const s = await open(b);
    const f = await s.chipFacts();
    expect(f).toMatchObject({
      chip: 'ESP32',
      mac: '24:0a:c4:12:34:56',
      macCrcOk: true,
      revision: { major: 1, minor: 0 },
      crystalMHz: 26,
      flash: { jedecId: 0x1740ef, sizeBytes: 8 << 20 },
      efuse: {
        flashCryptCnt: 1,
        encryptionEnabled: true,
        flashCryptConfig: 0xf,
        keyBlock1: { readProtected: false, writeProtected: true },
        downloadDisables: { encrypt: false, decrypt: true, cache: false },
        jtagDisabled: true,
      },
    });
    expect(b.chip.stubName).toMatch(/stub/); // the stub runs after connect
  });

  it('connects with the tight reset too, and runs the stub at a higher baud', async () => {
    const b = board({ revision: 3 });
    const stages: string[] = [];
    const s = await open(b, { reset: 'tight', baud: 921600, onProgress: (stage) => stages.push(stage) });
    expect((await s.chipFacts()).revision).toEqual({ major: 3, minor: 0 });
    expect(stages).toEqual(['connecting', 'connected', 'stub', 'baud', 'ready']);
    expect(await s.md5(0, 0x1000)).toBe(md5(flashBytes(b.chip, 0, 0x1000)));
  });
});

describe('MD5 and reads', () => {
  it('decodes the ROM MD5 (ASCII hex) and reads slowly without the stub; writing needs the stub', async () => {
    const b = board();
    const data = pattern(0x3000, 7);
    b.chip.flash.bytes.set(data, 0x20000);
    const s = await open(b, { stub: false });
    expect(s.stubRunning).toBe(false);
    expect(b.chip.dialect).toBe('rom');
    expect(await s.md5(0x20000, data.length)).toBe(md5(data));
    expect(await s.readFlash(0x20000 + 100, 300)).toEqual(data.subarray(100, 400));
    expect((await rejection(s.writeRegions([{ address: 0x20000, bytes: data }]))).code).toBe('session.needs_stub');
  });

  it('stub READ_FLASH returns the bytes and consumes the trailing MD5 frame', async () => {
    const b = board();
    const data = pattern(0x5432, 9);
    b.chip.flash.bytes.set(data, 0x30000);
    const s = await open(b);
    expect(await s.md5(0x30000, data.length)).toBe(md5(data));
    const progress: number[] = [];
    expect(await s.readFlash(0x30000, data.length, (done) => progress.push(done))).toEqual(data);
    expect(progress.at(-1)).toBe(data.length);
    // The next command's reply is the first packet read: nothing of the read is left over.
    expect(await s.md5(0x30000, 16)).toBe(md5(data.subarray(0, 16)));
    // Calls made together still go to the board one command at a time.
    const [a, c, d] = await Promise.all([s.md5(0x30000, 0x1000), s.readFlash(0x31000, 0x1000), s.md5(0x32000, 0x1000)]);
    expect([a, d]).toEqual([md5(data.subarray(0, 0x1000)), md5(data.subarray(0x2000, 0x3000))]);
    expect(c).toEqual(data.subarray(0x1000, 0x2000));
  });
});

describe('READ_FLASH integrity', () => {
  it('a corrupted byte on the line is caught by the trailing MD5 frame, never returned', async () => {
    const b = board();
    const data = pattern(0x20000, 11);
    b.chip.flash.bytes.set(data, 0x10000);
    const s = await open(b);
    b.chip.setLineFaults({ corruptRate: 0.00002, seed: 1 }); // seeded: the same bits flip every run
    const err = await rejection(s.readFlash(0x10000, data.length));
    expect(err.code).toBe('session.verify_failed');
    expect(err.message).toContain(`board MD5 ${md5(data)}`);
    expect(err.hint).toMatch(/lower --baud/);
  });
});

describe('writing regions', () => {
  it('writes, skips unchanged sectors, and rewrites only the sectors that differ', async () => {
    const consoleLog = vi.spyOn(console, 'log'); // esptool-js's chatter must never reach stdout
    const b = board();
    const app = pattern(0x23456, 1);
    const fs = pattern(0x20000, 2);
    const s = await open(b);
    const events: WriteProgress[] = [];
    const first = await s.writeRegions([{ address: 0x10000, bytes: app, name: 'app' }, { address: 0x200000, bytes: fs, name: 'fs' }], { onProgress: (p) => events.push(p) });
    expect(first.map((r) => [r.sectorsWritten, r.sectorsSkipped])).toEqual([[0x24, 0], [0x20, 0]]);
    expect(flashBytes(b.chip, 0x10000, app.length)).toEqual(app);
    expect(flashBytes(b.chip, 0x200000, fs.length)).toEqual(fs);
    expect(new Set(events.map((e) => `${e.region}:${e.phase}`))).toEqual(new Set(['0:compare', '0:write', '0:verify', '1:compare', '1:write', '1:verify']));

    const erasesBefore = b.chip.flash.stats.sectorErases;
    const programmedBefore = b.chip.flash.stats.bytesProgrammed;
    const again = await s.writeRegions([{ address: 0x10000, bytes: app }, { address: 0x200000, bytes: fs }]);
    expect(again.map((r) => r.sectorsWritten)).toEqual([0, 0]);
    expect(again.map((r) => r.sectorsSkipped)).toEqual([0x24, 0x20]);
    expect(b.chip.flash.stats.sectorErases).toBe(erasesBefore);
    expect(b.chip.flash.stats.bytesProgrammed).toBe(programmedBefore);

    const fs2 = fs.slice();
    flip(fs2, 0x1234, 0xff); // sector 1
    flip(fs2, 0x1ff00, 0x01); // sector 31
    flip(fs2, 0x2000, 0x80); // sector 2, next to sector 1: one run
    const third = await s.writeRegions([{ address: 0x200000, bytes: fs2 }]);
    expect(third[0]).toMatchObject({ sectorsWritten: 3, sectorsSkipped: 0x1d, md5: md5(fs2) });
    expect(third[0]?.sectorsWritten).toBe(differingSectors(fs, fs2));
    expect(b.chip.flash.stats.sectorErases - erasesBefore).toBe(3);
    expect(flashBytes(b.chip, 0x200000, fs2.length)).toEqual(fs2);
    expect(consoleLog).not.toHaveBeenCalled();
    consoleLog.mockRestore();
  });

  it("a flash plan with one board's device files: changing one file rewrites only its sectors", async () => {
    const b = board();
    const bundle = readBundle(makeDemoFirmware({ appSize: 0x20000 }).bundle);
    const text = (t: string) => new TextEncoder().encode(t);
    const files = (id: string) => ({ 'conf9.json': text(`{"device":{"id":"${id}"}}`), 'device.crt': text('-----BEGIN CERTIFICATE-----\n'.repeat(40)) });
    const regions = (id: string) => planFlash(bundle, { deviceFiles: files(id) }).map((r) => ({ address: r.address, bytes: r.bytes, name: r.part }));
    const s = await open(b);
    const one = regions('board-one');
    await s.writeRegions(one);
    const two = regions('board-two');
    const fsOne = one.find((r) => r.name === 'fs')?.bytes as Uint8Array;
    const fsTwo = two.find((r) => r.name === 'fs')?.bytes as Uint8Array;
    const differing = differingSectors(fsOne, fsTwo);
    expect(differing).toBeGreaterThan(0);
    expect(differing).toBeLessThanOrEqual(4);
    const results = await s.writeRegions(two);
    expect(results.map((r) => [r.name, r.sectorsWritten])).toEqual(two.map((r) => [r.name, r.name === 'fs' ? differing : 0]));
    expect(flashBytes(b.chip, two.find((r) => r.name === 'fs')?.address ?? 0, fsTwo.length)).toEqual(fsTwo);
  });

  it('refuses regions that do not fit before touching the flash', async () => {
    const b = board({ flashSize: '4MB' });
    const s = await open(b);
    const err = await rejection(s.writeRegions([{ address: 0x3ff000, bytes: new Uint8Array(0x2000), name: 'big' }]));
    expect(err.code).toBe('session.bad_region');
    expect(b.chip.flash.stats.bytesProgrammed).toBe(0);
  });
});

describe('failures give one clear error', () => {
  it('a board that is not an ESP32: session.wrong_chip with the magic, nothing written', async () => {
    const b = board({ chipMagic: 0x00000009 });
    const err = await rejection(openBoardSession(b.transport(), {}));
    expect(err.code).toBe('session.wrong_chip');
    expect(err.message).toContain('0x00000009');
    expect(err.message).toContain('0x00f01d83');
    expect(b.chip.flash.stats.bytesProgrammed + b.chip.flash.stats.sectorErases).toBe(0);
  });

  it('a port another program holds: session.port_busy with the hint from the port', async () => {
    const b = board();
    const busy = new SimTransport(b.chip, 'sim://busy');
    busy.open = async () => {
      throw new TransportError('transport.busy', '/dev/ttyUSB9 is in use by another program', { hint: 'close the other program' });
    };
    const err = await rejection(openBoardSession(busy, {}));
    expect(err.code).toBe('session.port_busy');
    expect(err.message).toContain('/dev/ttyUSB9');
    expect(err.hint).toBe('close the other program');
  });

  it('a port that closes while connecting ends the attempt at once', async () => {
    const b = board();
    b.chip.powerOff(); // silent, so only the close can end it early
    const t = b.transport();
    // Counted, not timed: once the port is closed no further connection attempt writes to it.
    let closed = false;
    let writesAfterClose = 0;
    const write = t.write.bind(t);
    t.write = (bytes: Uint8Array) => {
      if (closed) writesAfterClose++;
      return write(bytes);
    };
    setTimeout(() => {
      closed = true;
      void t.close();
    }, 150);
    const err = await rejection(openBoardSession(t, { connectAttempts: 7 }));
    expect(err.code).toBe('session.port_vanished');
    expect(err.message).toContain('closed while connecting');
    expect(writesAfterClose).toBeLessThanOrEqual(1);
  });

  it('a board that never answers: session.no_response naming the port and what to try', async () => {
    const b = board();
    b.chip.powerOff();
    const err = await rejection(openBoardSession(b.transport(), { connectAttempts: 1 }));
    expect(err.code).toBe('session.no_response');
    expect(err.message).toContain(b.simUrl);
    expect(err.hint).toMatch(/BOOT/);
    expect(err.hint).toMatch(/cable/);
  });

  it('--reset none on a board running its app: no answer, and the hint says how to enter download mode', async () => {
    const b = board();
    const err = await rejection(openBoardSession(b.transport(), { reset: 'none', connectAttempts: 1 }));
    expect(err.code).toBe('session.no_response');
    expect(err.hint).toMatch(/hold BOOT, press EN/);
  });

  it('a port that vanishes mid-write: session.port_vanished; a re-run repairs the board', async () => {
    const b = board();
    const data = pattern(0x40000, 3);
    const transport = b.transport();
    const s = await openBoardSession(transport, {});
    sessions.push(s);
    let cut = false;
    const err = await rejection(
      s.writeRegions([{ address: 0x100000, bytes: data }], {
        onProgress: (p) => {
          if (!cut && p.phase === 'write' && p.done > 0x8000) {
            cut = true;
            void transport.close();
          }
        },
      }),
    );
    expect(err.code).toBe('session.port_vanished');
    expect(err.message).toContain(b.simUrl);
    expect(md5(flashBytes(b.chip, 0x100000, data.length))).not.toBe(md5(data));
    expect((await rejection(s.md5(0, 16))).code).toBe('session.port_vanished');

    const again = await open(b);
    const [r] = await again.writeRegions([{ address: 0x100000, bytes: data }]);
    expect(flashBytes(b.chip, 0x100000, data.length)).toEqual(data);
    expect(r?.sectorsSkipped).toBeGreaterThan(0); // what made it across before the cut is kept
  });

  it('power lost mid-write: session.no_response; after a power cycle a re-run writes only the rest', async () => {
    const b = board();
    const data = pattern(0x40000, 4);
    const s = await open(b);
    b.chip.injectPowerLoss({ atCommand: 'FLASH_DEFL_DATA', occurrence: 3 });
    const err = await rejection(s.writeRegions([{ address: 0x100000, bytes: data }]));
    expect(err.code).toBe('session.no_response');
    expect(err.message).toContain('stopped answering while writing flash');
    expect(b.chip.state).toBe('dead');
    await s.close(); // the port has one opener at a time, as a tty does

    b.chip.powerOff();
    b.chip.powerOn();
    const again = await open(b);
    const [r] = await again.writeRegions([{ address: 0x100000, bytes: data }]);
    expect(flashBytes(b.chip, 0x100000, data.length)).toEqual(data);
    expect(r?.sectorsWritten).toBeGreaterThan(0);
    expect(r?.sectorsWritten).toBeLessThan(0x40);
  });

  it('hard reset leaves the loader: the board boots and the session refuses further commands', async () => {
    const b = board();
    const s = await open(b);
    await s.hardReset();
    await new Promise((r) => setTimeout(r, 30));
    expect(['app', 'boot-failed']).toContain(b.chip.state);
    expect((await rejection(s.md5(0, 16))).code).toBe('session.closed');
  });
});
