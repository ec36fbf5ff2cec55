// The fleet side's broker client against a real mosquitto with the generated profile: an
// operator in the ACL connects; a wrong broker CA, a foreign certificate, a wrong key
// passphrase and a plain mqtt:// URL each give one FleetError naming the cause.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueClientCert } from '../../certs/index.ts';
import { MOSQUITTO, mosquittoAvailable } from '../../certs/test/mosquitto-harness.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { connectFleetMqtt, parseBrokerUrl } from '../fleet/fleet-mqtt.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-fleet-mqtt-'));
let fleet: FleetBroker | undefined;
afterAll(async () => {
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('parseBrokerUrl', () => {
  it.each([
    ['mqtts://mqtt.example.net:8883', { host: 'mqtt.example.net', port: 8883 }],
    ['mqtts://mqtt.example.net', { host: 'mqtt.example.net', port: 8883 }],
    ['mqtts://[::1]:9000', { host: '::1', port: 9000 }],
  ])('%s', (text, want) => expect(parseBrokerUrl(text)).toEqual(want));
  it.each([
    ['mqtt://mqtt.example.net:1883', /must be mqtts/],
    ['mqtt.example.net:8883', /must be mqtts|not a broker URL/],
    ['mqtts://h:1/x', /no path/],
    ['', /not a broker URL/],
  ])('refuses %j', (text, why) => expect(() => parseBrokerUrl(text)).toThrow(why));
});

describe.skipIf(!mosquittoAvailable())(`connecting to the fleet broker (needs ${MOSQUITTO})`, () => {
  const op = { cert: '', key: '' };
  beforeAll(async () => {
    fleet = await startFleetBroker({ clients: [{ role: 'operator', name: 'mqtt-test' }] });
    const c = fleet.clients.get('operator:mqtt-test')!;
    op.cert = c.chainPem;
    op.key = c.privateKeyPem;
  }, 60_000);

  it('an operator in the ACL connects, subscribes and sees its own command topic traffic', async () => {
    const client = await connectFleetMqtt({ host: '127.0.0.1', port: fleet!.port }, { certPem: op.cert, keyPem: op.key, caPem: fleet!.caPem });
    try {
      expect(client.connected).toBe(true);
      await client.subscribeAsync('devices/#', { qos: 1 });
      const got = new Promise<string>((r) => client.once('message', (_t, p) => r(p.toString())));
      await client.publishAsync('devices/esp32_abcdef/cmd/reboot', '{"id":"x"}', { qos: 1 });
      expect(await got).toBe('{"id":"x"}');
    } finally {
      await client.endAsync();
    }
  });

  it('an encrypted key opens with its passphrase through the CLI flags; a wrong one is a clear error', async () => {
    const pass = `pp-${process.pid}-${Date.now()}`;
    const encrypted = createPrivateKey(op.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: pass }) as string;
    writeFileSync(join(dir, 'op.pem'), op.cert);
    writeFileSync(join(dir, 'op.key'), encrypted, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.pem'), fleet!.caPem);
    writeFileSync(join(dir, 'wrong'), 'not-it\n', { mode: 0o600 });
    const { connectBrokerClient } = await import('../cli/broker-client.ts');
    const { makeContext } = await import('../cli/context.ts');
    const sink = { write: () => true };
    const ctx = makeContext({ stdout: sink, stderr: sink, env: { ESPFLEET_CLIENT_KEY_PASSPHRASE: pass }, cwd: dir });
    const flags = { broker: `mqtts://127.0.0.1:${fleet!.port}`, clientCert: 'op.pem', clientKey: 'op.key', brokerCa: 'ca.pem' };
    const client = await connectBrokerClient(ctx, flags);
    await client.endAsync();
    await expect(connectBrokerClient(ctx, { ...flags, clientKeyPassphraseFile: 'wrong' })).rejects.toMatchObject({ code: 'fleet.mqtt.bad_identity' });
    await expect(connectBrokerClient(ctx, { ...flags, clientCert: undefined })).rejects.toMatchObject({ code: 'fleet.mqtt.missing_option', message: expect.stringContaining('--client-cert') });
  });

  it('a broker CA that is not the fleet one, and a certificate from another CA, are refused with fleet.mqtt.unreachable', async () => {
    const other = await initCa({ dir: join(dir, 'other-ca'), passphrase: `other-${process.pid}-${Date.now()}` });
    const stranger = await issueClientCert(other, { role: 'operator', name: 'mqtt-test' });
    const broker = { host: '127.0.0.1', port: fleet!.port };
    await expect(connectFleetMqtt(broker, { certPem: op.cert, keyPem: op.key, caPem: stranger.chainPem })).rejects.toMatchObject({ code: 'fleet.mqtt.unreachable' });
    await expect(connectFleetMqtt(broker, { certPem: stranger.chainPem, keyPem: stranger.privateKeyPem, caPem: fleet!.caPem })).rejects.toMatchObject({ code: 'fleet.mqtt.unreachable' });
  });
});
