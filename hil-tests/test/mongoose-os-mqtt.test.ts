// The Mongoose OS double's MQTT, Event and Net APIs (spec mongoose-os.md §4.2, §5.2) against a
// real mosquitto with the generated mTLS profile: the board connects with the files its config
// names, its will fires on power loss, reconnects back off on the host clock, and a stopped
// board holds nothing.
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO, mosquittoAvailable, recorder, startMosquitto, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { ManualClock, type VirtualEsp32 } from '../index.ts';
import { mjsRunner } from '../mongoose-os/index.ts';
import { startFleetBroker, type FleetBroker } from './helpers/fleet-broker.ts';
import { mgosBoard } from './helpers/mgos-board.ts';

const SCRIPT = `load('api_mqtt.js');
load('api_events.js');
load('api_net.js');
load('api_config.js');
let st = { id: Cfg.get('device.id'), acks: 0, got: '' };
Event.addGroupHandler(Net.EVENT_GRP, function(ev, evdata, s) { if (ev === Net.STATUS_GOT_IP) print('net got ip'); }, st);
Event.on(Event.CLOUD_CONNECTED, function(ev, evdata, s) { print('cloud connected'); }, st);
MQTT.setEventHandler(function(conn, ev, edata, s) {
  if (ev !== MQTT.EV_CONNACK) return;
  s.acks = s.acks + 1;
  let r = MQTT.pub('devices/' + s.id + '/status', JSON.stringify({ online: true, acks: s.acks }), 1, true);
  print('pub', r > 0);
}, st);
MQTT.sub('devices/' + st.id + '/cmd/#', function(conn, topic, msg, s) {
  s.got = topic;
  MQTT.pub('devices/' + s.id + '/events', JSON.stringify({ topic: topic, msg: JSON.parse(msg) }));
}, st);
print('before connect', MQTT.isConnected(), MQTT.pub('devices/x/events', 'early'));
`;

const available = mosquittoAvailable();
let fleet: FleetBroker;
let chip: VirtualEsp32 | undefined;
let watcher: MqttClient;

afterEach(() => {
  chip?.powerOff();
  chip = undefined;
});

async function board(cn: string, conf: Record<string, unknown> = {}, clock?: ManualClock): Promise<VirtualEsp32> {
  const id = await fleet.device(cn);
  const conf9 = { device: { id: cn }, mqtt: { enable: true, server: fleet.server, ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem', will_topic: `devices/${cn}/status`, will_message: '{"online":false}', will_retain: true, ...conf } };
  return mgosBoard({
    ...(clock ? { chip: { clock } } : {}),
    files: { 'init.js': SCRIPT, 'conf9.json': JSON.stringify(conf9), 'device.crt': id.chainPem, 'device.key': id.privateKeyPem, 'ca.pem': fleet.caPem },
    mgos: { scripts: mjsRunner() },
  });
}

describe.skipIf(!available)(`Mongoose OS double: MQTT over mTLS to mosquitto (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    fleet = await startFleetBroker();
    watcher = await fleet.operator();
    await watcher.subscribeAsync('devices/#');
  }, 60_000);
  afterAll(async () => fleet?.stop());

  it('connects with the certificate and key its config names, publishes retained, gets its commands; the will appears when power is cut', async () => {
    const seen = recorder(watcher);
    chip = await board('mqtt-a');
    expect(chip.bootLog()).toContain('before connect false 0');
    await waitUntil(() => seen.some((m) => m.topic === 'devices/mqtt-a/status' && m.payload.includes('"online":true')), 'the retained status');
    expect(chip.bootLog()).toContain('net got ip');
    expect(chip.bootLog()).toContain('cloud connected');
    expect(chip.bootLog()).toContain('pub true');
    await watcher.publishAsync('devices/mqtt-a/cmd/ping', JSON.stringify({ id: 'c1' }));
    await waitUntil(() => seen.some((m) => m.topic === 'devices/mqtt-a/events'), 'the event');
    expect(JSON.parse(seen.find((m) => m.topic === 'devices/mqtt-a/events')!.payload)).toEqual({ topic: 'devices/mqtt-a/cmd/ping', msg: { id: 'c1' } });
    // Retained: a late subscriber gets it.
    const late = await fleet.operator(1);
    const lateSeen = recorder(late);
    await late.subscribeAsync('devices/mqtt-a/status');
    await waitUntil(() => lateSeen.length > 0, 'the retained status for a late subscriber');
    chip.powerOff();
    chip = undefined;
    await waitUntil(() => seen.some((m) => m.topic === "devices/mqtt-a/status" && m.payload === '{"online":false}'), 'the last will', 10_000);
  });

  it('when the broker goes away the board backs off, reconnects, subscribes again and its CONNACK handler runs again', async () => {
    const own = await startFleetBroker();
    try {
      const id = await own.device('mqtt-d');
      const conf9 = { device: { id: 'mqtt-d' }, mqtt: { enable: true, server: own.server, ssl_cert: 'device.crt', ssl_key: 'device.key', ssl_ca_cert: 'ca.pem' } };
      chip = await mgosBoard({ files: { 'init.js': SCRIPT, 'conf9.json': JSON.stringify(conf9), 'device.crt': id.chainPem, 'device.key': id.privateKeyPem, 'ca.pem': own.caPem }, mgos: { scripts: mjsRunner() } });
      await waitUntil(() => chip!.bootLog().includes('MQTT CONNACK 0'), 'the first CONNACK');
      const confPath = own.broker.log().match(/Config loaded from (\S+)\./)![1]!;
      await own.broker.stop();
      await waitUntil(() => /MQTT reconnect in 2000 ms/.test(chip!.bootLog()), 'the back-off after the drop');
      own.broker = await startMosquitto(confPath);
      const ops = await own.operator();
      const seen = recorder(ops);
      await ops.subscribeAsync('devices/#');
      await waitUntil(() => seen.some((m) => m.topic === 'devices/mqtt-d/status' && m.payload.includes('"acks":2')), 'the second CONNACK status', 15_000);
      await ops.publishAsync('devices/mqtt-d/cmd/again', '{"n":2}');
      await waitUntil(() => seen.some((m) => m.topic === 'devices/mqtt-d/events'), 'a command after the resubscribe');
    } finally {
      chip?.powerOff();
      chip = undefined;
      await own.stop();
    }
  }, 60_000);

  it('a board that cannot reach its broker retries with back-off on the host clock; power-off leaves no timer', async () => {
    const clock = new ManualClock(Date.now());
    chip = await board('mqtt-b', { server: '127.0.0.1:1' }, clock);
    clock.advance(0); // network up
    await waitUntil(() => /MQTT reconnect in 2000 ms/.test(chip!.bootLog()), 'the first back-off');
    clock.advance(2_000);
    await waitUntil(() => /MQTT reconnect in 4000 ms/.test(chip!.bootLog()), 'the second back-off');
    clock.advance(4_000);
    await waitUntil(() => /MQTT reconnect in 8000 ms/.test(chip!.bootLog()), 'the third back-off');
    chip.powerOff();
    chip = undefined;
    expect(clock.timersPending).toBe(0);
  });

  it('a TLS failure (no such ca file) is a logged failed attempt, not a fault', async () => {
    const clock = new ManualClock(Date.now());
    chip = await board('mqtt-c', { ssl_ca_cert: 'missing.pem' }, clock);
    clock.advance(0);
    await waitUntil(() => /missing\.pem: no such file/.test(chip!.bootLog()), 'the failed attempt');
    expect(chip.state).toBe('app');
  });
});
