// esptool-js 0.7 (the library our provisioner builds on) drives the virtual ESP32 in-process:
// connect with its reset sequence, read the MAC, load its legacy stub, write and verify.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ESPLoader, Transport } from 'esptool-js';
import { SeededRandom } from '../../firmware-js/test/seeded-random.ts';
import { SimTransport, VirtualEsp32 } from '../index.ts';
import { webSerialPort } from './helpers/web-serial-port.ts';

function silentTerminal(lines: string[]) {
  return {
    clean: () => undefined,
    writeLine: (s: string) => void lines.push(s),
    write: (s: string) => void lines.push(s),
  };
}

describe('esptool-js over the in-process transport', () => {
  it('connects, reads the MAC, runs its stub, writes and verifies a compressed image', async () => {
    const chip = new VirtualEsp32({ name: 'js-board', mac: '24:0a:c4:aa:bb:cc', revision: 3 });
    chip.powerOn();
    const port = webSerialPort(new SimTransport(chip));
    const log: string[] = [];
    // esptool-js types its device as a W3C SerialPort; the adapter has the parts it uses.
    const transport = new Transport(port as never, false);
    const loader = new ESPLoader({ transport, baudrate: 115200, terminal: silentTerminal(log) });
    const chipName = await loader.main();
    expect(chipName).toMatch(/^ESP32-D0WD/);
    expect(log.join('\n')).toContain('MAC: 24:0a:c4:aa:bb:cc');
    // esptool-js 0.7 bundles esp-flasher-stub (entry 0x400A902C), the same stub esptool 5 loads.
    expect(chip.stubName).toMatch(/^esp-flasher-stub/);
    expect(chip.dialect).toBe('esp-flasher-stub');

    const image = new SeededRandom(7).bytes(48 * 1024);
    image.fill(0, 0, 16 * 1024); // compressible part, so the deflate path carries real savings
    await loader.writeFlash({
      fileArray: [{ data: image, address: 0x10000 }],
      flashSize: 'keep',
      flashMode: 'keep',
      flashFreq: 'keep',
      eraseAll: false,
      compress: true,
      calculateMD5Hash: (d: Uint8Array) => createHash('md5').update(d).digest('hex'),
    });
    expect(log.join('\n')).toMatch(/Hash of data verified/);
    expect(Buffer.from(chip.flash.read(0x10000, image.length)).equals(Buffer.from(image))).toBe(true);
    await transport.disconnect();
  });
});
