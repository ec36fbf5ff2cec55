// Issue 14 acceptance, renewal, on the virtual board: a station-provisioned board runs the
// agent firmware (with the crypto helper) against a real mosquitto with the generated mTLS
// profile; a TEST CSR signer (renewer client certificate, the project's CA) answers
// devices/+/cert/csr on cert/issued. The board's clock is a ManualClock (pumped to run about
// real time; jumped while the board is off to bring the certificate near expiry, and held
// still to cut the power between two renewal steps).
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrl, initCa, issueClientCert, issueDeviceCert, parseCsr, revoke, signCsr, type Ca } from '../../certs/index.ts';
import { MOSQUITTO, connectClient, mosquittoAvailable, recorder, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { ManualClock, VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { agentFirmware } from './agent-firmware.ts';
import { provisionAgentBoard } from './provisioned-agent-board.ts';

const DAY_MS = 86_400_000;
const available = mosquittoAvailable();
const dir = mkdtempSync(join(tmpdir(), 'espfleet-agent-renew-board-'));
const clock = new ManualClock(Date.now());
let pumping = true;
const pump = setInterval(() => pumping && clock.advance(20), 20);
const chip = new VirtualEsp32({ name: `agent-renew-${process.pid}`, clock });
const unregister = registerSimBoard(chip.options.name, chip);
const port = `sim://${chip.options.name}`;
let fleet: FleetBroker | undefined;
let ca: Ca;
let otherCa: Ca;
let ops: MqttClient;
let renewer: MqttClient;
let seen: Array<{ topic: string; payload: string }>;
let signerSeen: Array<{ topic: string; payload: string }>;
let deviceId = '';

/** The test's renewal service. */
type Mode = 'good' | 'hold' | 'wrong-key' | 'other-ca';
let mode: Mode = 'good';
let beforeAnswer: ((c?: { serialHex: string }) => void | Promise<void>) | undefined;
const issued: Array<{ serialHex: string; notAfter: Date; chainPem: string }> = [];

afterAll(async () => {
  clearInterval(pump);
  unregister();
  chip.powerOff();
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const events = () => seen.filter((m) => m.topic === `devices/${deviceId}/events`).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
const renewEvents = () => events().filter((e) => e.event === 'renew');
const onlineSince = (n: number) => seen.slice(n).filter((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true'));
const cfg = async (key: string) => (await espfleet(['device', 'config', 'get', key, '--port', port])).stdout.trim();
const boardFile = async (name: string) => espfleet(['device', 'fs', 'get', name, '--port', port]);

async function powerCycle(): Promise<void> {
  chip.powerOff();
  await new Promise((r) => setTimeout(r, 50));
  chip.powerOn();
}

/** The pair the board's config names exists on the board and is the one the broker saw last. */
async function onePair(): Promise<string> {
  const crt = await cfg('mqtt.ssl_cert');
  const key = await cfg('mqtt.ssl_key');
  expect((await boardFile(crt)).code).toBe(0);
  expect((await boardFile(key)).code).toBe(0);
  return crt;
}

function walk(d: string): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe.skipIf(!available)(`renewal on a provisioned virtual board against mosquitto (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    chip.powerOn();
    const passphrase = randomBytes(24).toString('base64');
    ca = await initCa({ dir: join(dir, 'ca'), passphrase });
    otherCa = await initCa({ dir: join(dir, 'other-ca'), passphrase });
    // The renewer identity exists before the broker profile is written, so the ACL names it.
    const signerId = await issueClientCert(ca, { role: 'renewer', name: 'test-signer' });
    fleet = await startFleetBroker({ ca });
    deviceId = await provisionAgentBoard(dir, { id: 'renew-line', caPassphrase: passphrase, mqttServer: fleet.server, port });
    ops = await fleet.operator();
    seen = recorder(ops);
    await ops.subscribeAsync('devices/#');
    renewer = await connectClient(fleet.port, fleet.caPem, { cert: signerId.chainPem, key: signerId.privateKeyPem });
    signerSeen = recorder(renewer);
    renewer.on('message', (topic, payload) => {
      const m = /^devices\/([^/]+)\/cert\/csr$/.exec(topic);
      if (!m || mode === 'hold') return;
      const id = m[1]!;
      const req = JSON.parse(payload.toString()) as { id: string; csr: string };
      void (async () => {
        expect(parseCsr(req.csr).commonNames).toEqual([id]);
        let cert: string;
        let made: { serialHex: string } | undefined;
        if (mode === 'good') {
          const c = await signCsr(ca, req.csr, { expectCn: id, days: 730 });
          issued.push(c);
          made = c;
          cert = c.chainPem;
        } else if (mode === 'wrong-key') {
          cert = (await issueDeviceCert(ca, { cn: id })).chainPem; // our CA, right CN, someone else's key
        } else {
          cert = (await signCsr(otherCa, req.csr, { expectCn: id })).chainPem;
        }
        await beforeAnswer?.(made);
        await renewer.publishAsync(`devices/${id}/cert/issued`, JSON.stringify({ id: req.id, cert }), { qos: 1 });
      })();
    });
    await renewer.subscribeAsync('devices/+/cert/csr');
    chip.attachFirmware(agentFirmware());
    await hardReset(chip);
    await waitUntil(() => onlineSince(0).length > 0, `the first status (log: ${chip.bootLog().slice(-600)})`, 15_000);
  }, 180_000);

  it('renews by itself near expiry: key on the board, CSR, certificate, reconnect on the new pair, committed; the key is in no payload and no host file', async () => {
    expect(await cfg('mqtt.ssl_cert')).toBe('device.crt');
    expect(renewEvents()).toEqual([]); // a year left: nothing to do
    // The board is off for 340 days; at the next CONNACK its certificate has < 30 days left.
    chip.powerOff();
    clock.advance(340 * DAY_MS);
    const n = seen.length;
    chip.powerOn();
    await waitUntil(() => renewEvents().some((e) => e.phase === 'renewed'), `the renewed event (log: ${chip.bootLog().slice(-800)})`, 30_000);
    expect(renewEvents().map((e) => e.phase)).toEqual(['csr_sent', 'switching', 'renewed']);
    const cert = issued.at(-1)!;
    expect(renewEvents().at(-1)).toMatchObject({ crt: 'espfleet_a.crt', not_after: cert.notAfter.getTime() / 1000, cmd_id: null });
    // The reconnect on the new pair published a status carrying the new certificate's expiry.
    await waitUntil(() => onlineSince(n).some((m) => JSON.parse(m.payload).cert_expiry === cert.notAfter.getTime() / 1000), 'a status with the new expiry');
    expect(await cfg('mqtt.ssl_cert')).toBe('espfleet_a.crt');
    expect(await cfg('mqtt.ssl_key')).toBe('espfleet_a.key');
    expect((await boardFile('espfleet_a.crt')).stdout).toBe(cert.chainPem);
    expect((await boardFile('device.key')).code).not.toBe(0); // the old key is gone
    // A power cycle: the committed pair connects again.
    const m = seen.length;
    await powerCycle();
    await waitUntil(() => onlineSince(m).length > 0, 'online on the new pair after a power cycle', 15_000);
    expect(fleet!.broker.log()).toContain(`as ${deviceId} (`);

    // The new private key: only on the board. Not in any MQTT payload, not in any host file.
    const keyPem = (await boardFile('espfleet_a.key')).stdout;
    const jwk = createPrivateKey(keyPem).export({ format: 'jwk' }) as { d: string };
    const d = Buffer.from(jwk.d, 'base64url');
    const secrets = [d.toString('hex'), d.toString('hex').toUpperCase(), d.toString('base64'), jwk.d, ...keyPem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))];
    const payloads = [...seen, ...signerSeen].map((x) => x.payload);
    expect(payloads.some((p) => p.includes('PRIVATE KEY'))).toBe(false);
    const files = [...walk(dir), ...walk(fleet!.dir)].map((f) => readFileSync(f).toString('latin1'));
    for (const s of secrets) {
      expect(payloads.some((p) => p.includes(s)), 'a payload holds the key').toBe(false);
      expect(files.some((f) => f.includes(s) || f.includes(Buffer.from(s).toString('base64'))), 'a host file holds the key').toBe(false);
    }
    expect(seen.some((x) => x.topic === `devices/${deviceId}/cert/csr`)).toBe(true);
  }, 90_000);

  for (const bad of ['wrong-key', 'other-ca'] as const) {
    it(`refuses a certificate ${bad === 'wrong-key' ? 'for another key' : 'from another CA'} and keeps the old pair`, async () => {
      mode = bad;
      const n = renewEvents().length;
      await ops.publishAsync(`devices/${deviceId}/cmd/renew`, JSON.stringify({ id: `bad-${bad}` }), { qos: 1 });
      await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'refused'), 'the refusal', 15_000);
      expect(renewEvents().slice(n).find((e) => e.phase === 'refused')!.reason).toMatch(bad === 'wrong-key' ? /not for the new key/ : /does not chain to the fleet CA/);
      expect(events()).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'cmd_result', id: `bad-${bad}`, ok: true })]));
      expect(await onePair()).toBe('espfleet_a.crt');
      expect((await boardFile('espfleet_b.key')).code).not.toBe(0);
      expect(renewEvents().slice(n).some((e) => e.phase === 'switching')).toBe(false);
    }, 30_000);
  }

  it('a new pair the broker does not accept (revoked before the board uses it): no commit, reboot, back on the old pair', async () => {
    const before = await cfg('mqtt.ssl_cert');
    mode = 'good';
    beforeAnswer = async (c) => {
      await revoke(ca, c!.serialHex, 'keyCompromise');
      writeFileSync(join(fleet!.dir, 'broker', 'crl.pem'), buildCrl(ca).crlPem);
      await fleet!.broker.reload();
    };
    const n = renewEvents().length;
    await ops.publishAsync(`devices/${deviceId}/cmd/renew`, '{"id":"revoked-1"}', { qos: 1 });
    await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'switching'), 'the switching event', 15_000);
    const logFrom = fleet!.broker.log().length;
    await waitUntil(() => chip.bootLog().includes('trying the new certificate'), `the trial boot (log: ${chip.bootLog().slice(-600)})`, 10_000);
    await waitUntil(() => /revoked|OpenSSL Error/i.test(fleet!.broker.log().slice(logFrom)), `the broker refusing the revoked certificate (broker log: ${fleet!.broker.log().slice(-600)})`, 10_000);
    clock.advance(61_000); // espfleet.renew.confirm_timeout (60 s) without a CONNACK
    await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'failed'), `the failure report (log: ${chip.bootLog().slice(-800)})`, 20_000);
    expect(renewEvents().slice(n).at(-1)).toMatchObject({ phase: 'failed', cmd_id: 'revoked-1', reason: 'the broker did not accept the new certificate; back on the old pair' });
    expect(renewEvents().slice(n).some((e) => e.phase === 'renewed')).toBe(false);
    beforeAnswer = undefined;
    expect(await onePair()).toBe(before);
    expect((await boardFile('espfleet_renew.json')).code).not.toBe(0);
  }, 60_000);

  // Power loss between two steps: the board's clock is held still, so the step after does not run.
  const steps: Array<{ name: string; at: () => Promise<void>; pair: 'old' | 'new'; report?: string }> = [
    { name: 'after keygen and the CSR publish', pair: 'old', report: 'rebooted before a certificate arrived; keeping the old pair', at: async () => {
      mode = 'hold';
      const n = seen.length;
      await ops.publishAsync(`devices/${deviceId}/cmd/renew`, '{"id":"pl-1"}', { qos: 1 });
      await waitUntil(() => seen.slice(n).some((m) => m.topic === `devices/${deviceId}/cert/csr`), 'the CSR');
    } },
    { name: 'after the certificate is written, before the switch', pair: 'old', report: 'rebooted before the switch; keeping the old pair', at: async () => {
      mode = 'good';
      beforeAnswer = () => {
        pumping = false;
      };
      const n = renewEvents().length;
      await ops.publishAsync(`devices/${deviceId}/cmd/renew`, '{"id":"pl-2"}', { qos: 1 });
      await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'switching'), 'the switching event');
    } },
    { name: 'after the switch is saved, before the reboot onto it', pair: 'new', at: async () => {
      mode = 'good';
      beforeAnswer = () => {
        pumping = false;
      };
      const n = renewEvents().length;
      await ops.publishAsync(`devices/${deviceId}/cmd/renew`, '{"id":"pl-3"}', { qos: 1 });
      await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'switching'), 'the switching event');
      clock.advance(100); // Config.Set (try_once) runs; its reboot is 500 ms later
    } },
    { name: 'on the new pair, before the commit', pair: 'old', report: 'the broker did not accept the new certificate; back on the old pair', at: async () => {
      mode = 'good';
      beforeAnswer = () => {
        pumping = false;
      };
      const n = renewEvents().length;
      await ops.publishAsync(`devices/${deviceId}/cmd/renew`, '{"id":"pl-4"}', { qos: 1 });
      await waitUntil(() => renewEvents().slice(n).some((e) => e.phase === 'switching'), 'the switching event');
      clock.advance(1_000); // saved, rebooted onto conf9.json.try; the clock stops before MQTT connects
      await waitUntil(() => chip.bootLog().includes('trying the new certificate'), 'the trial boot');
    } },
  ];
  for (const s of steps) {
    it(`a power loss ${s.name} leaves a board that connects (${s.pair} pair)`, async () => {
      const before = await cfg('mqtt.ssl_cert');
      await s.at();
      const k = renewEvents().length;
      chip.powerOff();
      beforeAnswer = undefined;
      mode = 'good';
      pumping = true;
      const n = seen.length;
      chip.powerOn();
      await waitUntil(() => onlineSince(n).length > 0, `online again (log: ${chip.bootLog().slice(-800)})`, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      const now = await onePair();
      const after = renewEvents().slice(k);
      if (s.report) expect(after).toEqual(expect.arrayContaining([expect.objectContaining({ phase: 'failed', reason: s.report })]));
      if (s.pair === 'new') expect(after.at(-1)).toMatchObject({ phase: 'renewed' });
      const other = before === 'espfleet_a.crt' ? 'espfleet_b.crt' : 'espfleet_a.crt';
      expect(now).toBe(s.pair === 'old' ? before : other);
      // And it stays that way: nothing half-done at the next boot.
      const m = seen.length;
      await powerCycle();
      await waitUntil(() => onlineSince(m).length > 0, 'online after one more power cycle', 20_000);
      expect(await onePair()).toBe(now);
      expect((await boardFile('espfleet_renew.json')).code).not.toBe(0);
      expect((await boardFile('conf9.json.try')).code).not.toBe(0);
    }, 60_000);
  }
});
