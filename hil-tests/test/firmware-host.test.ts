// The firmware host (hil-tests/virtual-esp32/firmware-host.ts): what a firmware double may do
// on the virtual ESP32 — flash writes through the encryption engine, checked by esptool and
// espsecure; timers and sockets that a reset or power loss takes away; restarts; faults.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { espsecure, expectOk } from '../../scripts/lib/oracles.ts';
import { ManualClock, VirtualEsp32, loadState, saveState, startSimSession, type Firmware, type FirmwareHost, type StopReason } from '../index.ts';
import { encryptRegions, encryptedChipEfuses, firmwareSet, hardReset, place } from './helpers/firmware-set.ts';
import { clean, serveBoard, type ServedBoard } from './helpers/served-board.ts';
import { SYNC_DATA, SlipHost, sleep, words } from './helpers/slip-host.ts';

const DATA_AT = 0x380000;

/** Firmware that erases one sector and writes a record to it at boot, once. */
function recordWriter(record: Uint8Array): Firmware {
  return {
    name: 'record-writer',
    start(host) {
      const current = host.flash.read(DATA_AT, record.length);
      if (Buffer.from(current).equals(record)) return host.print('record already there\r\n');
      host.flash.erase(DATA_AT, 0x1000);
      host.flash.write(DATA_AT, record);
      host.print(`record written (encrypted=${host.flash.encrypted})\r\n`);
    },
  };
}

function encryptedBoard(key: Uint8Array, firmware: Firmware, extra: ConstructorParameters<typeof VirtualEsp32>[0] = {}): VirtualEsp32 {
  const chip = new VirtualEsp32({ name: `fwhost-${randomBytes(3).toString('hex')}`, ...encryptedChipEfuses(key), firmware, ...extra });
  place(chip, encryptRegions(firmwareSet({ version: '1.0.0' }), key));
  return chip;
}

/** Power applied with firmware in flash: the first boot, and the firmware's first run. */
async function powerUp(chip: VirtualEsp32): Promise<void> {
  chip.powerOn();
  for (let i = 0; i < 100 && chip.state === 'reset'; i++) await sleep(2);
}

let served: ServedBoard | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

describe('firmware host: flash', () => {
  it('encrypts what the firmware writes; esptool read-flash + espsecure decrypt-flash-data give it back', async () => {
    const key = randomBytes(32);
    const record = Uint8Array.from(randomBytes(4096));
    const dir = mkdtempSync(join(tmpdir(), 'fwhost-'));
    served = await serveBoard({ name: 'fwhost-enc', ...encryptedChipEfuses(key), firmware: recordWriter(record) });
    place(served.chip, encryptRegions(firmwareSet({ version: '1.0.0' }), key));
    await hardReset(served.chip);
    expect(served.chip.state).toBe('app');
    expect(served.chip.bootLog()).toContain('record written (encrypted=true)');
    // The cells hold ciphertext; the firmware reads its plaintext back through the cache.
    expect(Buffer.from(served.chip.flash.read(DATA_AT, record.length)).equals(record)).toBe(false);

    const raw = join(dir, 'raw.bin');
    const out = await served.esptool(['--after', 'no-reset', 'read-flash', `0x${DATA_AT.toString(16)}`, '0x1000', raw]);
    expect(out.code, clean(out)).toBe(0);
    writeFileSync(join(dir, 'key.bin'), key);
    const plain = join(dir, 'plain.bin');
    expectOk(await espsecure(['decrypt-flash-data', '--keyfile', join(dir, 'key.bin'), '--address', `0x${DATA_AT.toString(16)}`, '--output', plain, raw]), 'espsecure');
    expect(Buffer.from(readFileSync(plain)).equals(record)).toBe(true);
  });

  it('writes plaintext when encryption is off, and refuses unaligned encrypted writes as a fault', async () => {
    const record = Uint8Array.from(randomBytes(64));
    const plainChip = new VirtualEsp32({ name: 'fwhost-plain', firmware: recordWriter(record) });
    place(plainChip, firmwareSet({ version: '1.0.0' }));
    await powerUp(plainChip);
    expect(plainChip.bootLog()).toContain('record written (encrypted=false)');
    expect(Buffer.from(plainChip.flash.read(DATA_AT, 64)).equals(record)).toBe(true);

    const faults: Error[] = [];
    const chip = encryptedBoard(randomBytes(32), recordWriter(Uint8Array.from(randomBytes(40))));
    chip.onFault((e) => faults.push(e));
    await powerUp(chip);
    expect(chip.state).toBe('faulted');
    expect(faults.map((e) => (e as Error & { code?: string }).code)).toEqual(['sim.flash.unaligned_encrypted_write']);
    expect(chip.bootLog()).toMatch(/Guru Meditation Error: virtual ESP32 fault: encrypted write 0x380000\+0x28 is not 16-byte aligned/);
  });
});

/** Firmware that holds an interval, a long timeout and a TCP connection, and logs its stop. */
function busyFirmware(port: number, log: { ticks: number; stops: StopReason[]; host?: FirmwareHost }): Firmware {
  return {
    name: 'busy',
    start(host) {
      log.host = host;
      host.setInterval(() => log.ticks++, 5);
      host.setTimeout(() => host.print('never\r\n'), 60_000);
      host.connect({ host: '127.0.0.1', port }).on('error', () => {});
      host.onStop((r) => log.stops.push(r));
    },
  };
}

describe('firmware host: served boards', () => {
  it('startSimSession runs the firmware and saves what it wrote to the state file', async () => {
    const record = Uint8Array.from(randomBytes(256));
    const statePath = join(mkdtempSync(join(tmpdir(), 'fwhost-state-')), 'board.state');
    const seed = new VirtualEsp32({ name: 'fwhost-served' });
    place(seed, firmwareSet({ version: '1.0.0' }));
    saveState(seed, statePath);
    const session = await startSimSession({ listen: '127.0.0.1:0', statePath, create: {}, firmware: recordWriter(record), saveDelayMs: 1 });
    for (let i = 0; i < 100 && session.chip.state !== 'app'; i++) await sleep(2);
    expect(session.chip.bootLog()).toContain('record written (encrypted=false)');
    await session.stop();
    expect(Buffer.from(loadState(statePath).flash.read(DATA_AT, record.length)).equals(record)).toBe(true);
  });
});

describe('firmware host: stop', () => {
  async function withPeer(): Promise<{ port: number; sockets: Socket[]; closed: () => number; close: () => Promise<void> }> {
    const sockets: Socket[] = [];
    let closed = 0;
    const server = createServer((s) => {
      sockets.push(s);
      s.resume();
      s.on('close', () => closed++);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return { port, sockets, closed: () => closed, close: () => new Promise((r) => server.close(() => r())) };
  }

  function firmwareTimers(): number {
    return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  }

  it('a power loss cancels every timer and closes every socket the firmware held', async () => {
    const peer = await withPeer();
    const before = firmwareTimers();
    const log = { ticks: 0, stops: [] as StopReason[] } as { ticks: number; stops: StopReason[]; host?: FirmwareHost };
    const chip = new VirtualEsp32({ name: 'fwhost-power', firmware: busyFirmware(peer.port, log) });
    place(chip, firmwareSet({ version: '1.0.0' }));
    await powerUp(chip);
    for (let i = 0; i < 100 && (peer.sockets.length === 0 || log.ticks < 3); i++) await sleep(5);
    expect(peer.sockets).toHaveLength(1);
    expect(log.ticks).toBeGreaterThanOrEqual(3);
    expect(chip.firmwareSession?.openHandles()).toEqual({ timers: 2, resources: 1 });

    // Power goes as the next byte from the host arrives.
    chip.injectPowerLoss({ afterRxBytes: 0 });
    chip.receive(Uint8Array.of(0x41));
    for (let i = 0; i < 100 && chip.state !== 'dead'; i++) await sleep(2);
    expect(chip.state).toBe('dead');
    expect(log.stops).toEqual(['power-loss']);
    expect(log.host?.signal.aborted).toBe(true);
    const ticks = log.ticks;
    await sleep(40);
    expect(log.ticks).toBe(ticks);
    for (let i = 0; i < 100 && peer.closed() === 0; i++) await sleep(5);
    expect(peer.closed()).toBe(1);
    expect(firmwareTimers()).toBeLessThanOrEqual(before);
    expect(() => log.host?.flash.write(DATA_AT, new Uint8Array(16))).toThrow(/after the firmware stopped/);
    await peer.close();
  });

  it('a reset into download mode stops the firmware; a flash boot starts it again', async () => {
    const peer = await withPeer();
    const log = { ticks: 0, stops: [] as StopReason[] } as { ticks: number; stops: StopReason[]; host?: FirmwareHost };
    const chip = new VirtualEsp32({ name: 'fwhost-reset', firmware: busyFirmware(peer.port, log) });
    place(chip, firmwareSet({ version: '1.0.0' }));
    await powerUp(chip);
    const first = log.host;
    await hardReset(chip);
    expect(log.stops).toEqual(['reset']);
    expect(log.host).not.toBe(first);
    expect(chip.firmwareSession?.openHandles().timers).toBe(2);
    chip.powerOff();
    expect(log.stops).toEqual(['reset', 'power-off']);
    expect(chip.firmwareSession).toBeUndefined();
    await peer.close();
  });
});

describe('firmware host: clock, restart, input, faults', () => {
  it('runs timers on an injected clock, exactly when it is advanced', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const fired: number[] = [];
    const chip = new VirtualEsp32({
      name: 'fwhost-clock',
      clock,
      firmware: {
        name: 'clocked',
        start(host) {
          host.setTimeout(() => fired.push(host.uptimeMs()), 86_400_000);
          host.setInterval(() => fired.push(-host.uptimeMs()), 3_600_000);
        },
      },
    });
    place(chip, firmwareSet({ version: '1.0.0' }));
    await powerUp(chip);
    expect(fired).toEqual([]);
    clock.advance(2 * 3_600_000);
    expect(fired).toEqual([-3_600_000, -7_200_000]);
    clock.advance(22 * 3_600_000);
    expect(fired.slice(2)).toEqual(expect.arrayContaining([86_400_000]));
    expect(fired.filter((t) => t < 0)).toHaveLength(24);
    chip.powerOff();
    expect(clock.timersPending).toBe(0);
  });

  it('restart() is a software reset that boots the same firmware again', async () => {
    let starts = 0;
    const chip = new VirtualEsp32({
      name: 'fwhost-restart',
      firmware: {
        name: 'restarter',
        start(host) {
          starts++;
          host.print(`boot ${starts}\r\n`);
          if (starts === 1) host.restart();
        },
      },
    });
    place(chip, firmwareSet({ version: '1.0.0' }));
    await powerUp(chip);
    await sleep(10);
    expect(starts).toBe(2);
    expect(chip.bootLog()).toContain('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    expect(chip.bootLog()).toContain('boot 2');
  });

  it('hands the host UART bytes to the firmware, and its output to the host', async () => {
    const chip = new VirtualEsp32({
      name: 'fwhost-echo',
      firmware: {
        name: 'echo',
        start(host) {
          host.onReceive((b) => host.print(Uint8Array.from(b, (x) => x ^ 0x20)));
        },
      },
    });
    place(chip, firmwareSet({ version: '1.0.0' }));
    await powerUp(chip);
    const got: number[] = [];
    chip.onTransmit((b) => got.push(...b));
    chip.receive(new TextEncoder().encode('hello'));
    for (let i = 0; i < 50 && got.length < 5; i++) await sleep(2);
    expect(Buffer.from(got).toString()).toBe('HELLO');
  });

  it('a throw inside a firmware callback is a visible chip fault', async () => {
    const chip = new VirtualEsp32({
      name: 'fwhost-fault',
      firmware: {
        name: 'buggy',
        start(host) {
          host.setTimeout(() => {
            throw new TypeError('cannot read properties of undefined');
          }, 1);
        },
      },
    });
    const faults: Error[] = [];
    chip.onFault((e) => faults.push(e));
    place(chip, firmwareSet({ version: '1.0.0' }));
    await powerUp(chip);
    for (let i = 0; i < 50 && faults.length === 0; i++) await sleep(2);
    expect(faults.map((e) => e.message)).toEqual(['cannot read properties of undefined']);
    expect(chip.state).toBe('faulted');
    expect(chip.firmwareSession).toBeUndefined();
  });

  it('a bug inside the ROM loader faults the chip instead of leaving the host to time out', async () => {
    const chip = new VirtualEsp32({ name: 'fwhost-romfault' });
    const faults: Error[] = [];
    chip.onFault((e) => faults.push(e));
        const host = new SlipHost(chip);
    await host.enterDownloadMode();
    host.send(0x08, SYNC_DATA);
    await host.next(8);
    // Break the double from the inside: the next register read hits a failing bus model.
    const bus = Reflect.get(chip, 'bus') as { read(address: number): number };
    bus.read = () => {
      throw new RangeError('double bug');
    };
    host.send(0x0a /* READ_REG */, words(0x3ff5a004));
    await chip.idle();
    expect(faults.map((e) => e.message)).toEqual(['double bug']);
    expect(chip.state).toBe('faulted');
    expect(chip.bootLog()).toContain('Guru Meditation Error: virtual ESP32 fault: double bug');
  });
});
