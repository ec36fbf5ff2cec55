// Issue 16 acceptance: `espfleet ca renewd` as its own process (the CLI as a child) renews a
// station-provisioned virtual board running the agent, against a real mosquitto with the
// generated profile. The new serial is the one in use, the registry names it, the old one is
// in the CRL the broker reloaded (its TLS handshake is refused), and the audit log agrees.
// Then renewd is killed between signing and publishing (fault injection) and restarted: the
// board still ends on one valid, connected certificate, and the request was signed once.
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, openCaRecords, type Ca } from '../../certs/index.ts';
import { MOSQUITTO, connectOutcome, mosquittoAvailable, recorder, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { ManualClock, VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { RenewalJournal } from '../../provisioner/renewal/renewal-journal.ts';
import { openRegistry } from '../../provisioner/station/registry-sqlite.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { expectOk, openssl } from '../../scripts/lib/oracles.ts';
import { readyRenewd as readyRenewdProcess, type RenewdProcess } from '../../provisioner/renewal/test/renewd-process.ts';
import { agentFirmware } from './agent-firmware.ts';
import { provisionAgentBoard } from './provisioned-agent-board.ts';

const DAY_MS = 86_400_000;
const available = mosquittoAvailable();
const dir = mkdtempSync(join(tmpdir(), 'espfleet-renewd-board-'));
const clock = new ManualClock(Date.now());
const pump = setInterval(() => clock.advance(20), 20);
const chip = new VirtualEsp32({ name: `renewd-${process.pid}`, clock });
const unregister = registerSimBoard(chip.options.name, chip);
const port = `sim://${chip.options.name}`;
let fleet: FleetBroker | undefined;
let ca: Ca;
let ops: MqttClient;
let seen: Array<{ topic: string; payload: string }>;
let deviceId = '';
let renewd: RenewdProcess | undefined;

afterAll(async () => {
  clearInterval(pump);
  renewd?.child.kill('SIGKILL');
  unregister();
  chip.powerOff();
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const renewEvents = () => seen.filter((m) => m.topic === `devices/${deviceId}/events`).map((m) => JSON.parse(m.payload) as Record<string, unknown>).filter((e) => e.event === 'renew');
const onlineSince = (n: number) => seen.slice(n).filter((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true'));
const cfg = async (key: string) => (await espfleet(['device', 'config', 'get', key, '--port', port])).stdout.trim();
const boardFile = async (name: string) => (await espfleet(['device', 'fs', 'get', name, '--port', port])).stdout;
const boardSerial = async () => new X509Certificate(await boardFile(await cfg('mqtt.ssl_cert'))).serialNumber.toLowerCase();
const deviceCerts = () => openCaRecords(join(dir, 'ca')).index.all().filter((r) => r.cn === deviceId);
const auditEntries = () => readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; subject: Record<string, string>; details?: Record<string, unknown> });

async function registryView() {
  const reg = await openRegistry(join(dir, 'registry.sqlite'), { readOnly: true });
  try {
    return { device: await reg.get(deviceId), rows: await new RenewalJournal(reg).forDevice(deviceId) };
  } finally {
    await reg.close();
  }
}

const renewdOptions = (env: Record<string, string> = {}) => ({ dir, broker: fleet!, renewer: 'renewer:renewd-1', extraArgs: ['--rate-limit', '10/1h', '--days', '730'] /* the board's clock runs 340 days ahead: a 365-day certificate would be due again */, env });

async function readyRenewd(env: Record<string, string> = {}): Promise<RenewdProcess> {
  renewd = await readyRenewdProcess(renewdOptions(env));
  return renewd;
}

async function stopRenewd(): Promise<void> {
  await renewd?.stop();
}

async function powerCycle(): Promise<void> {
  chip.powerOff();
  await new Promise((r) => setTimeout(r, 50));
  chip.powerOn();
}

describe.skipIf(!available)(`ca renewd as a process renews a provisioned virtual board (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    chip.powerOn();
    const passphrase = randomBytes(24).toString('base64');
    ca = await initCa({ dir: join(dir, 'ca'), passphrase });
    fleet = await startFleetBroker({ ca, clients: [{ role: 'renewer', name: 'renewd-1' }] });
    deviceId = await provisionAgentBoard(dir, { id: 'renewd-line', caPassphrase: passphrase, mqttServer: fleet.server, port });
    ops = await fleet.operator();
    seen = recorder(ops);
    await ops.subscribeAsync('devices/#');
    await readyRenewd(); // subscribed (persistent session) before any board can send a CSR
    chip.attachFirmware(agentFirmware());
    await hardReset(chip);
    await waitUntil(() => onlineSince(0).length > 0, `the first status (log: ${chip.bootLog().slice(-600)})`, 15_000);
  }, 180_000);

  it('renews near expiry: new serial in use and in the registry, old serial in the reloaded CRL and refused by the broker, audit agrees', async () => {
    const oldSerial = await boardSerial();
    const oldId = { cert: await boardFile('device.crt'), key: await boardFile('device.key') }; // in memory only
    expect((await registryView()).device?.certSerial).toBe(oldSerial);
    const r = renewd!;
    chip.powerOff();
    clock.advance(340 * DAY_MS);
    chip.powerOn();
    await waitUntil(() => renewEvents().some((e) => e.phase === 'renewed'), 'the renewed event', 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; renewd: ${r.stderr().slice(-800)} ${r.lines.join('\n').slice(-1500)}; seen: ${JSON.stringify(seen.slice(-10)).slice(-2500)}; log: ${chip.bootLog().slice(-1500)}`);
    });
    const logFrom = fleet!.broker.log().length;
    await waitUntil(() => r.lines.some((l) => l.includes('"crl"')), `renewd publishing the CRL (${r.lines.join('\n').slice(-600)})`, 30_000);
    await waitUntil(() => /Reloading config/.test(fleet!.broker.log().slice(logFrom)), 'mosquitto reloading on the SIGHUP from renewd', 10_000);
    const newSerial = await boardSerial();
    expect(newSerial).not.toBe(oldSerial);
    const view = await registryView();
    expect(view.device).toMatchObject({ certSerial: newSerial, status: 'provisioned' });
    expect(view.rows[0]).toMatchObject({ state: 'confirmed', serial: newSerial, oldSerial });
    const certs = deviceCerts();
    expect(certs.find((c) => c.serialHex === oldSerial)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    expect(certs.find((c) => c.serialHex === newSerial)).toMatchObject({ status: 'valid' });
    const crl = expectOk(await openssl(['crl', '-in', join(fleet!.dir, 'broker', 'crl.pem'), '-noout', '-text']), 'crl -text');
    expect(crl.toLowerCase()).toContain(oldSerial);
    expect(crl.toLowerCase()).not.toContain(newSerial);
    // The broker reloaded it: the old certificate's new TLS connection is refused, the board reconnects on the new one.
    await new Promise((res) => setTimeout(res, 300));
    expect(await connectOutcome(fleet!.port, fleet!.caPem, oldId)).toMatch(/^refused: .*revoked/i);
    const m = seen.length;
    await powerCycle();
    await waitUntil(() => onlineSince(m).length > 0, 'online on the new pair after the CRL reload', 20_000);
    // Audit: issued (old → new), the old revoked as superseded, confirmed; the chain verifies.
    const audit = auditEntries();
    expect(audit).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'certificate.renew', subject: expect.objectContaining({ deviceId, serial: newSerial }), details: expect.objectContaining({ step: 'issued', oldSerial }) }),
      expect.objectContaining({ action: 'certificate.revoke', subject: expect.objectContaining({ serial: oldSerial, deviceId }), details: expect.objectContaining({ reason: 'superseded', replacedBy: newSerial }) }),
      expect.objectContaining({ action: 'certificate.renew', details: expect.objectContaining({ step: 'confirmed', revoked: [oldSerial] }) }),
    ]));
    expect((await espfleet(['audit', 'verify', '--station', join(dir, 'station.toml')])).code).toBe(0);
    await stopRenewd();
  }, 150_000);

  it('killed between signing and publishing, restarted: the request is signed once and the board ends on one valid connected certificate', async () => {
    await stopRenewd(); // one renewer session at a time (the CN is the client id)
    const before = await boardSerial();
    const count = deviceCerts().length;
    const faulty = await readyRenewd({ ESPFLEET_RENEWD_FAULT: 'kill-after-sign' });
    // The board must be on the broker for the command (its session is clean): wait for its status.
    await waitUntil(() => seen.filter((m) => m.topic === `devices/${deviceId}/status`).at(-1)?.payload.includes('"online":true') === true, 'the board online', 30_000);
    await ops.publishAsync(`devices/${deviceId}/cmd/renew`, '{"id":"kill-1"}', { qos: 1 });
    const result = () => seen.filter((m) => m.topic === `devices/${deviceId}/events`).map((m) => JSON.parse(m.payload) as Record<string, unknown>).find((e) => e.id === 'kill-1');
    await waitUntil(() => result() !== undefined, 'the board answering cmd/renew', 30_000);
    expect(result(), JSON.stringify(result())).toMatchObject({ ok: true });
    const killed = await Promise.race([faulty.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 90_000))]);
    expect(killed, `renewd after the CSR: ${faulty.stderr().slice(-800)} ${faulty.lines.join('\n').slice(-1500)}; events ${JSON.stringify(renewEvents().slice(-4))}`).toMatchObject({ signal: 'SIGKILL' });
    const journaled = (await registryView()).rows.find((row) => row.req.startsWith('kill-1'))!;
    expect(journaled).toMatchObject({ state: 'signed' });
    expect(deviceCerts().length).toBe(count + 1);
    const n = renewEvents().length;
    const r = await readyRenewd();
    await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'renewed'), `the renewed event after the restart (renewd: ${r.stderr().slice(-600)})`, 60_000);
    await waitUntil(() => r.lines.some((l) => l.includes('"crl"')), 'the CRL after the restart', 30_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${r.stderr().slice(-800)} ${r.lines.join('\n').slice(-1500)}`);
    });
    expect(await boardSerial()).toBe(journaled.serial);
    expect(deviceCerts().length).toBe(count + 1); // signed once
    const view = await registryView();
    expect(view.device?.certSerial).toBe(journaled.serial);
    expect(view.rows.find((row) => row.req === journaled.req)?.state).toBe('confirmed');
    expect(deviceCerts().find((c) => c.serialHex === before)).toMatchObject({ status: 'revoked' });
    expect(deviceCerts().filter((c) => c.status === 'valid').map((c) => c.serialHex)).toEqual([journaled.serial]);
    const m = seen.length;
    await powerCycle();
    await waitUntil(() => onlineSince(m).length > 0, 'online after a power cycle', 20_000);
    expect(await boardSerial()).toBe(journaled.serial);
    await stopRenewd();
  }, 300_000);
});
