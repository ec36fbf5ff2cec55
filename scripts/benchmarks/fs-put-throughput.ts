// Bench: `espfleet device fs put` of a 32 KiB file to the Mongoose OS double on a virtual
// ESP32 whose UART0 is paced at 115200 baud, against the wire limit (baud / 10 bytes per
// second of raw file data), with and without mos's 16-byte/5 ms write pacing. Issue 13
// "Bench". Prints figures; asserts nothing.
import { randomBytes } from 'node:crypto';
import { SimTransport } from '../../hil-tests/index.ts';
import { mgosBoard } from '../../hil-tests/test/helpers/mgos-board.ts';
import { MgosDevice } from '../../provisioner/field/device.ts';

const BAUD = 115_200;
const SIZE = 32 * 1024;

async function run(label: string, pacing: { chunk: number; pauseMs: number } | false): Promise<void> {
  const chip = await mgosBoard({ chip: { throttle: true } });
  try {
    const device = await MgosDevice.open(new SimTransport(chip), { pacing, timeoutMs: 20_000 });
    const data = new Uint8Array(randomBytes(SIZE));
    const before = chip.wireStats();
    const t0 = performance.now();
    const r = await device.fsPut('bench.bin', data);
    const seconds = (performance.now() - t0) / 1000;
    const after = chip.wireStats();
    await device.close();
    const rate = SIZE / seconds;
    const limit = BAUD / 10;
    console.log(
      `${label.padEnd(26)} ${SIZE} bytes in ${r.chunks} chunks, ${seconds.toFixed(2)} s: ${(rate / 1024).toFixed(2)} KiB/s of file` +
        ` = ${(rate / limit).toFixed(2)} of the ${(limit / 1024).toFixed(2)} KiB/s wire limit` +
        ` (wire carried ${after.hostToChip - before.hostToChip} bytes up, ${after.chipToHost - before.chipToHost} down)`,
    );
  } finally {
    chip.powerOff();
  }
}

await run('fs put, XON/XOFF only', false);
await run('fs put, mos pacing 16/5ms', { chunk: 16, pauseMs: 5 });
