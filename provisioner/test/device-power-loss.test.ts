// Power lost in the middle of `fs put` and `config set` (issue 13 "Faults"): the command
// reports a typed error, the board still boots into Mongoose OS, and running the command
// again finishes the job.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SimTransport, type VirtualEsp32 } from '../../hil-tests/index.ts';
import { mgosBoard, waitFor } from '../../hil-tests/test/helpers/mgos-board.ts';
import { MgosDevice } from '../field/device.ts';
import { RpcError } from '../rpc/errors.ts';
import { encodeFrame } from '../rpc/frame.ts';

const fast = { timeoutMs: 300, retries: 1, handshakeIntervalMs: 20 };

async function powerBack(chip: VirtualEsp32): Promise<void> {
  await waitFor(() => chip.state === 'dead', 'the power cut');
  chip.powerOn();
  await waitFor(() => chip.state === 'app' && chip.bootLog().includes('Init done'), 'the boot after the cut');
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(RpcError);
    return (e as RpcError).code;
  }
  throw new Error('the command did not fail');
}

describe('power loss during field commands', () => {
  it('fs put: cut mid-transfer, the board boots, a re-run writes the whole file', async () => {
    const chip = await mgosBoard();
    try {
      const data = new Uint8Array(randomBytes(30_000));
      let device = await MgosDevice.open(new SimTransport(chip), fast);
      chip.injectPowerLoss({ afterRxBytes: 14_000 });
      expect(await failure(device.fsPut('big.bin', data))).toBe('rpc.timeout');
      await device.close();
      await powerBack(chip);
      device = await MgosDevice.open(new SimTransport(chip), fast);
      const partial = (await device.fsList()).find((e) => e.name === 'big.bin');
      expect(partial?.size ?? 0).toBeLessThan(data.length);
      expect(await device.fsPut('big.bin', data)).toMatchObject({ bytes: data.length });
      expect(Buffer.from(await device.fsGet('big.bin')).equals(Buffer.from(data))).toBe(true);
      await device.close();
    } finally {
      chip.powerOff();
    }
  });

  it('config set: cut while the request arrives, the board boots with the old config, a re-run saves it', async () => {
    const chip = await mgosBoard({ files: { 'conf9.json': '{"mqtt":{"server":"old:8883"}}' } });
    try {
      let device = await MgosDevice.open(new SimTransport(chip), fast);
      // config set sends Config.Get (whole frame gets through), then Config.Set: the cut falls inside that one.
      const getFrame = encodeFrame({ id: 2 ** 40, src: 'espfleet', method: 'Config.Get', params: {} }, { crc: true, legacy: true }).length;
      chip.injectPowerLoss({ afterRxBytes: getFrame + 50 });
      expect(await failure(device.configSet(['mqtt.server=new:8883']))).toMatch(/^rpc\.(timeout|garbled)$/);
      await device.close();
      await powerBack(chip);
      device = await MgosDevice.open(new SimTransport(chip), fast);
      expect(await device.configGet('mqtt.server')).toBe('old:8883');
      expect(await device.configSet(['mqtt.server=new:8883'])).toMatchObject({ saved: true, rebooted: true });
      expect(await device.configGet('mqtt.server')).toBe('new:8883');
      await device.close();
    } finally {
      chip.powerOff();
    }
  });
});
