// Issue 14 acceptance on the virtual board: a station-provisioned (encrypted) board running
// the Mongoose OS double with the real agent connects to a real mosquitto with the generated
// mTLS profile using its own certificate, publishes a retained status, answers commands on
// devices/<id>/events, its last will appears when its power is cut, and cmd/reboot goes
// through the boot check again.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa } from '../../certs/index.ts';
import { MOSQUITTO, mosquittoAvailable, recorder, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { agentFirmware } from './agent-firmware.ts';
import { provisionAgentBoard } from './provisioned-agent-board.ts';

const available = mosquittoAvailable();
const dir = mkdtempSync(join(tmpdir(), 'espfleet-agent-board-'));
const chip = new VirtualEsp32({ name: `agent-board-${process.pid}` });
const unregister = registerSimBoard(chip.options.name, chip);
const port = `sim://${chip.options.name}`;
let fleet: FleetBroker | undefined;
let ops: MqttClient;
let seen: Array<{ topic: string; payload: string }>;
let deviceId = '';

afterAll(async () => {
  unregister();
  chip.powerOff();
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const status = () => seen.filter((m) => m.topic === `devices/${deviceId}/status`);
const events = () => seen.filter((m) => m.topic === `devices/${deviceId}/events`).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
// bootLog() starts again at every reset; this keeps the whole UART0 transcript to count boots.
let uart = '';
chip.onTransmit((b) => (uart += Buffer.from(b).toString('latin1')));
const appBoots = () => (uart.match(/Loaded app from partition/g) ?? []).length;

describe.skipIf(!available)(`the agent on a provisioned virtual board against mosquitto (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    chip.powerOn();
    const passphrase = randomBytes(24).toString('base64');
    const ca = await initCa({ dir: join(dir, 'ca'), passphrase });
    fleet = await startFleetBroker({ ca });
    deviceId = await provisionAgentBoard(dir, { id: 'agent-line', caPassphrase: passphrase, mqttServer: fleet.server, port });
    ops = await fleet.operator();
    seen = recorder(ops);
    await ops.subscribeAsync('devices/#');
  }, 120_000);

  it('connects with its own certificate, publishes a retained status, answers commands; its will appears when power is cut; reboot boots through the check again', async () => {
    // The app slot now runs Mongoose OS with the agent the bundle carried.
    chip.attachFirmware(agentFirmware());
    await hardReset(chip);
    expect(chip.state).toBe('app');
    await waitUntil(() => status().some((m) => m.payload.includes('"online":true')), `the retained status (log: ${chip.bootLog().slice(-600)})`, 10_000);
    const st = JSON.parse(status().at(-1)!.payload) as Record<string, unknown>;
    expect(st).toMatchObject({ online: true, id: deviceId, ota: 'idle', rollout: '' });
    expect(fleet!.broker.log()).toContain(`as ${deviceId} (`); // the CN from its certificate is its username and client id
    expect(chip.bootLog()).toContain(`espfleet: agent 0.1.0 up as ${deviceId}`);
    await waitUntil(() => JSON.parse(status().at(-1)!.payload).fw_version === '1.0.0', 'the status with the firmware version');

    // A retained status: a second operator that subscribes late gets it at once.
    const late = await fleet!.operator(1);
    const lateSeen = recorder(late);
    await late.subscribeAsync(`devices/${deviceId}/status`);
    await waitUntil(() => lateSeen.some((m) => m.payload.includes('"online":true')), 'the retained status for a late subscriber');

    // A command and a refused one, each answered with its id; a replay is ignored.
    await ops.publishAsync(`devices/${deviceId}/cmd/config`, JSON.stringify({ id: 'cfg-1', set: { 'debug.level': 3 } }), { qos: 1 });
    await ops.publishAsync(`devices/${deviceId}/cmd/config`, JSON.stringify({ id: 'cfg-2', set: { 'mqtt.server': 'evil:1883' } }), { qos: 1 });
    await ops.publishAsync(`devices/${deviceId}/cmd/ota`, '{"id":"ota-1","rollout":"r1","url":"https://x.example.net/y.zip","version":"2.0.0"}', { qos: 1 });
    await ops.publishAsync(`devices/${deviceId}/cmd/config`, '{"id":', { qos: 1 });
    await waitUntil(() => events().length >= 4, 'four results');
    expect(events()).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: 'cfg-1', ok: true }),
      expect.objectContaining({ id: 'cfg-2', ok: false, reason: 'key not allowed: mqtt.server' }),
      expect.objectContaining({ id: 'ota-1', ok: false, reason: 'OTA disabled: espfleet.ota.allowed_hosts is empty' }),
      expect.objectContaining({ id: null, ok: false, reason: 'invalid JSON' }),
    ]));

    // Power cut: the broker publishes the will, retained.
    chip.powerOff();
    await waitUntil(() => status().at(-1)?.payload === '{"online":false}', 'the last will', 10_000);

    // Power back: online again; then cmd/reboot answers and resets through the boot check.
    const boots = appBoots();
    let n = seen.length;
    chip.powerOn();
    await waitUntil(() => appBoots() > boots && seen.slice(n).some((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true')), 'online after power-on', 10_000);
    n = seen.length;
    await ops.publishAsync(`devices/${deviceId}/cmd/reboot`, '{"id":"reboot-1"}', { qos: 1 });
    await waitUntil(() => events().some((e) => e.id === 'reboot-1' && e.ok === true), 'the reboot result');
    await waitUntil(() => appBoots() > boots + 1, 'the board to boot again', 10_000);
    expect(chip.bootLog()).toContain('SW_CPU_RESET');
    await waitUntil(() => seen.slice(n).some((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true')), 'online after the reboot', 10_000);
    // The replayed reboot id is ignored after the reboot: no second result, no second reboot.
    const bootsNow = appBoots();
    await ops.publishAsync(`devices/${deviceId}/cmd/reboot`, '{"id":"reboot-1"}', { qos: 1 });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(events().filter((e) => e.id === 'reboot-1')).toHaveLength(1);
    expect(appBoots()).toBe(bootsNow);
    expect((await espfleet(['device', 'config', 'get', 'debug.level', '--port', port])).stdout).toBe('3\n');
  }, 120_000);
});
