// Field commands over a faulty wire (issue 13 "Faults"): bytes dropped and corrupted at a
// seeded rate in both directions between the client and the Mongoose OS double. The client
// retries; whatever it returns is exactly right, and when it gives up it says so with a
// typed error.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { SimTransport } from '../../hil-tests/index.ts';
import { mgosBoard } from '../../hil-tests/test/helpers/mgos-board.ts';
import { GET_CHUNK, MgosDevice, maxPutChunk } from '../field/device.ts';
import { RpcError } from '../rpc/errors.ts';

describe('field commands over a noisy line', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: fs put / fs get / config round trips give the right bytes or a typed error, never wrong data`, async () => {
      const chip = await mgosBoard();
      const rnd = new SeededRandom(seed * 7919);
      const transport = new SimTransport(chip);
      let frames = 0;
      const write = transport.write.bind(transport);
      transport.write = (b: Uint8Array) => ((frames += b.includes(0x7b) ? 1 : 0), write(b));
      const device = await MgosDevice.open(transport, { timeoutMs: 400, retries: 8, handshakeIntervalMs: 20, random: () => rnd.nextU32() / 2 ** 32 });
      // From here on the wire drops and flips bytes: ~1 fault per 5 KiB each way.
      chip.setLineFaults({ dropRate: 1e-4, corruptRate: 1e-4, seed });
      const outcomes: string[] = [];
      let calls = 0;
      try {
        for (let round = 0; round < 3; round++) {
          const data = rnd.bytes(rnd.int(3_000, 12_000));
          const name = `f${round}.bin`;
          try {
            calls += Math.ceil(data.length / maxPutChunk(name)) + 1 + Math.ceil(data.length / GET_CHUNK) + 1; // put chunks, size check, get chunks, info
            await device.fsPut(name, data);
            const back = await device.fsGet(name);
            expect(Buffer.from(back).equals(Buffer.from(data)), `${name} came back different`).toBe(true);
            outcomes.push('ok');
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(RpcError);
            outcomes.push((e as RpcError).code);
          }
          try {
            const info = await device.info();
            expect(info.mac).toMatch(/^[0-9A-F]{12}$/);
            expect(info.fwVersion).toBe('1.2.3');
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(RpcError);
          }
        }
      } finally {
        chip.setLineFaults(undefined);
        await device.close();
        chip.powerOff();
      }
      // The faults happened (frames were re-sent), and retries got through: most rounds succeed.
      expect(frames, `${frames} frames for about ${calls} calls`).toBeGreaterThan(calls);
      expect(outcomes.filter((o) => o === 'ok').length, outcomes.join(', ')).toBeGreaterThanOrEqual(2);
    }, 60_000);
  }
});
