// Issue 13 acceptance: a board provisioned by the station (development encryption) runs the
// Mongoose OS double; `espfleet device` reads its identity, changes its config across a
// reboot and moves a 40 KiB file both ways; then esptool read-flash + espsecure
// decrypt-flash-data + littlefs-python find that file and conf9.json in the encrypted fs_0.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rfc2217Server, VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { mongooseOs } from '../../hil-tests/mongoose-os/index.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { espsecure, esptool, expectOk, python } from '../../scripts/lib/oracles.ts';
import { espfleet } from './cli-harness.ts';
import { writeStationFixture } from './station-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-device-acceptance-'));
const chip = new VirtualEsp32({ name: `field-accept-${process.pid}` });
chip.powerOn();
const unregister = registerSimBoard(chip.options.name, chip);
const port = `sim://${chip.options.name}`;
const stationPath = join(dir, 'station.toml');
afterAll(() => {
  unregister();
  chip.powerOff();
  rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  await writeStationFixture(dir, { id: 'field-line', operator: 'tech', firmware: { version: '3.0.0', appSize: 0x18000 }, mqttServer: 'mqtt.factory.example.net:8883', encryption: 'development', ports: [port] });
}, 60_000);

/** Mounts the decrypted fs image; prints the listing, conf9.json, and saves one file. */
const LITTLEFS_READ = `import littlefs, sys, json
data = bytearray(open(sys.argv[1], 'rb').read())
fs = littlefs.LittleFS(block_size=4096, block_count=len(data)//4096, mount=False)
fs.context.buffer = data
fs.mount()
print(json.dumps(sorted(fs.listdir('/'))))
print(json.dumps(json.loads(fs.open('conf9.json', 'r').read())))
open(sys.argv[2], 'wb').write(fs.open(sys.argv[3], 'rb').read())`;

describe('field commands on a station-provisioned, encrypted board running Mongoose OS', () => {
  it('device info, config set + reboot + config get, a 40 KiB fs put/get, and the oracles find it all on flash', async () => {
    const prov = await espfleet(['provision', '--station', stationPath, '--json']);
    expect(prov.code, prov.stderr).toBe(0);
    const [row] = JSON.parse(prov.stdout) as Array<{ result: string; deviceId: string; mac: string }>;
    expect(row?.result).toBe('provisioned');
    expect(chip.flashEncryptionEnabled()).toBe(true);

    // The app slot now "runs" Mongoose OS: attach the double and boot it.
    chip.attachFirmware(mongooseOs());
    await hardReset(chip);
    expect(chip.state).toBe('app');

    const info = await espfleet(['device', 'info', '--port', port]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(new RegExp(`^id: +${row!.deviceId}$`, 'm'));
    expect(info.stdout).toMatch(/^app: +\S+ 3\.0\.0 /m);
    expect(info.stdout).toMatch(/^version: +3\.0\.0$/m);
    expect(info.stdout).toContain(`mac:          ${row!.mac.toUpperCase()}`);
    expect((await espfleet(['device', 'config', 'get', 'mqtt.server', '--port', port])).stdout).toBe('mqtt.factory.example.net:8883\n');

    const set = await espfleet(['device', 'config', 'set', 'mqtt.server=mqtt.field.example.net:8883', '--no-reboot', '--port', port]);
    expect(set.code, set.stderr).toBe(0);
    const reboot = await espfleet(['device', 'reboot', '--port', port]);
    expect(reboot.code, reboot.stderr).toBe(0);
    expect(chip.bootLog()).toContain('SW_CPU_RESET');
    expect((await espfleet(['device', 'config', 'get', 'mqtt.server', '--port', port])).stdout).toBe('mqtt.field.example.net:8883\n');
    expect((await espfleet(['device', 'config', 'get', 'device.id', '--port', port])).stdout).toBe(`${row!.deviceId}\n`);

    const blob = randomBytes(40 * 1024);
    writeFileSync(join(dir, 'payload.bin'), blob);
    const put = await espfleet(['device', 'fs', 'put', 'payload.bin', '--port', port], { cwd: dir });
    expect(put.code, put.stderr).toBe(0);
    const get = await espfleet(['device', 'fs', 'get', 'payload.bin', 'back.bin', '--port', port], { cwd: dir });
    expect(get.code, get.stderr).toBe(0);
    expect(Buffer.from(readFileSync(join(dir, 'back.bin'))).equals(blob)).toBe(true);

    // The oracles over RFC 2217: raw flash is ciphertext; the escrowed key decrypts it to a LittleFS that holds both files.
    const keyFile = join(dir, 'board.key');
    const exp = await espfleet(['keystore', 'export', '--keystore', join(dir, 'keys.json'), '--keystore-key-file', join(dir, 'keystore.key'), '--mac', row!.mac, '--out', keyFile]);
    expect(exp.code, exp.stderr).toBe(0);
    const server = new Rfc2217Server(chip);
    const url = await server.listen();
    const enc = join(dir, 'fs0.enc');
    const plain = join(dir, 'fs0.img');
    try {
      expectOk(await esptool(['--port', url, '--chip', 'esp32', '--baud', '921600', 'read-flash', '0x190000', '0x40000', enc], { timeoutMs: 240_000 }), 'esptool read-flash');
    } finally {
      await server.close();
    }
    expectOk(await espsecure(['decrypt-flash-data', '--keyfile', keyFile, '--address', '0x190000', '--output', plain, enc]), 'espsecure decrypt-flash-data');
    expect(Buffer.from(readFileSync(enc)).equals(readFileSync(plain))).toBe(false);
    const [files = '[]', conf9 = '{}'] = expectOk(await python(LITTLEFS_READ, [plain, join(dir, 'found.bin'), 'payload.bin']), 'littlefs-python').split('\n');
    expect(JSON.parse(files)).toEqual(expect.arrayContaining(['conf9.json', 'device.crt', 'device.key', 'payload.bin']));
    expect(JSON.parse(conf9)).toMatchObject({ device: { id: row!.deviceId }, mqtt: { server: 'mqtt.field.example.net:8883' } });
    expect(Buffer.from(readFileSync(join(dir, 'found.bin'))).equals(blob)).toBe(true);
  }, 300_000);
});
