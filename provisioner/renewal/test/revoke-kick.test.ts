// Revocation end to end on a real mosquitto with the generated profile: `ca revoke
// --crl-out --broker-pid-file` rewrites the broker's CRL and sends SIGHUP, so the revoked
// board's next handshake is refused; its open session survives the reload (mosquitto 2.0)
// until `broker kick` takes the session over and the broker closes it (its will is sent).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa } from '../../../certs/index.ts';
import { MOSQUITTO, connectClient, connectOutcome, mosquittoAvailable, recorder, waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { startFleetBroker, type FleetBroker } from '../../../hil-tests/test/helpers/fleet-broker.ts';
import { espfleet } from '../../test/cli-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-revoke-kick-'));
let fleet: FleetBroker | undefined;
afterAll(async () => {
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!mosquittoAvailable())(`ca revoke updates the broker, broker kick cuts the open session (needs ${MOSQUITTO})`, () => {
  let board: MqttClient;
  let ops: MqttClient;
  let seen: Array<{ topic: string; payload: string }>;
  let id: { chainPem: string; privateKeyPem: string; serialHex: string };
  const caArgs = () => ['--ca-dir', join(dir, 'ca'), '--passphrase-file', join(dir, 'ca.pass')];

  beforeAll(async () => {
    const passphrase = randomBytes(18).toString('base64');
    writeFileSync(join(dir, 'ca.pass'), `${passphrase}\n`, { mode: 0o600 });
    fleet = await startFleetBroker({ ca: await initCa({ dir: join(dir, 'ca'), passphrase }) });
    writeFileSync(join(dir, 'broker-ca.pem'), fleet.caPem);
    writeFileSync(join(dir, 'mosquitto.pid'), `${fleet.broker.pid}\n`);
    id = await fleet.device('kick-board');
    ops = await fleet.operator();
    seen = recorder(ops);
    await ops.subscribeAsync('devices/#');
    board = await connectClient(fleet.port, fleet.caPem, { cert: id.chainPem, key: id.privateKeyPem }, { will: { topic: 'devices/kick-board/status', payload: Buffer.from('{"online":false}'), qos: 1, retain: true } });
  }, 60_000);

  it('revoke --crl-out --broker-pid-file: the broker reloads the CRL, the next handshake is refused, the open session stays', async () => {
    const from = fleet!.broker.log().length;
    const r = await espfleet(['ca', 'revoke', ...caArgs(), '--serial', id.serialHex, '--reason', 'keyCompromise', '--crl-out', join(fleet!.dir, 'broker', 'crl.pem'), '--broker-pid-file', join(dir, 'mosquitto.pid'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ serial: id.serialHex, crl: { reloaded: fleet!.broker.pid } });
    await waitUntil(() => /Reloading config/.test(fleet!.broker.log().slice(from)), 'the reload', 10_000);
    await new Promise((res) => setTimeout(res, 200)); // the TLS contexts are rebuilt after the log line
    expect(await connectOutcome(fleet!.port, fleet!.caPem, { cert: id.chainPem, key: id.privateKeyPem })).toMatch(/^refused: .*certificate revoked/);
    expect(board.connected).toBe(true);
    await board.publishAsync('devices/kick-board/events', '{"still":"here"}', { qos: 1 });
    await waitUntil(() => seen.some((m) => m.payload === '{"still":"here"}'), 'the revoked board still publishing');
  }, 30_000);

  it('broker kick: the session is taken over and closed, the will is published, the board cannot come back', async () => {
    let closed = false;
    board.on('close', () => (closed = true));
    const r = await espfleet(['broker', 'kick', ...caArgs(), '--device', 'kick-board', '--broker', `mqtts://127.0.0.1:${fleet!.port}`, '--broker-ca', join(dir, 'broker-ca.pem'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { kickSerial: string };
    await waitUntil(() => closed, 'the board connection closed by the broker', 10_000);
    await waitUntil(() => seen.some((m) => m.topic === 'devices/kick-board/status' && m.payload === '{"online":false}'), 'the will');
    expect(await connectOutcome(fleet!.port, fleet!.caPem, { cert: id.chainPem, key: id.privateKeyPem })).toMatch(/^refused: .*certificate revoked/);
    const list = JSON.parse((await espfleet(['ca', 'list', '--ca-dir', join(dir, 'ca'), '--json'])).stdout) as Array<{ serialHex: string; status: string }>;
    expect(list.find((c) => c.serialHex === out.kickSerial)?.status).toBe('revoked'); // the one-use certificate
  }, 30_000);
});
