// OTA acceptance on the virtual board (docs/ota-protocol.md): a station-provisioned board runs
// the agent firmware against a real mosquitto; cmd/ota points it at the fleet's HTTPS firmware
// server (`ota serve`, a server certificate from the fleet CA, so the board's ca.pem trusts
// it); the double's OTA.Update (ota-http-client) pulls the signed bundle, the board reboots
// uncommitted, the agent's health check commits it. A bundle signed by another key ends in
// `failed` with the firmware untouched; new firmware whose agent never runs is reverted by the
// firmware's commit timer and the old agent reports `reverted`. The board's clock is a
// ManualClock pumped to run about real time.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueServerCert } from '../../certs/index.ts';
import { MOSQUITTO, mosquittoAvailable, recorder, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { ManualClock, VirtualEsp32, registerSimBoard } from '../../hil-tests/index.ts';
import { startFleetBroker, type FleetBroker } from '../../hil-tests/test/helpers/fleet-broker.ts';
import { hardReset } from '../../hil-tests/test/helpers/firmware-set.ts';
import { startFirmwareServer, type FirmwareServer } from '../../provisioner/fleet/firmware-server.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { agentFsFiles } from '../agent-files.ts';
import { agentFirmware } from './agent-firmware.ts';
import { provisionAgentBoardWithSigner } from './provisioned-agent-board.ts';

const ready = mosquittoAvailable();
const dir = mkdtempSync(join(tmpdir(), 'espfleet-agent-ota-board-'));
const clock = new ManualClock(Date.now());
const pump = setInterval(() => clock.advance(20), 20);
const chip = new VirtualEsp32({ name: `agent-ota-${process.pid}`, clock });
const unregister = registerSimBoard(chip.options.name, chip);
const port = `sim://${chip.options.name}`;
let fleet: FleetBroker | undefined;
let server: FirmwareServer | undefined;
let ops: MqttClient;
let seen: Array<{ topic: string; payload: string }>;
let deviceId = '';
let cert: { chainPem: string; privateKeyPem: string };

afterAll(async () => {
  clearInterval(pump);
  unregister();
  chip.powerOff();
  await server?.stop();
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const json = (m: { payload: string }) => JSON.parse(m.payload) as Record<string, unknown>;
const otaStatus = (n = 0) => seen.slice(n).filter((m) => m.topic === `devices/${deviceId}/ota/status`).map(json);
const lastStatus = () => seen.filter((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true')).map(json).at(-1);
const cfg = async (key: string) => (await espfleet(['device', 'config', 'get', key, '--port', port])).stdout.trim();

/**
 * An HTTPS server with the firmware server's certificate that answers any GET with a full
 * Content-Length, sends the first half of `bytes` and holds the rest until release(), then
 * closes the connection short (the download fails).
 */
async function holdingServer(bytes: Uint8Array): Promise<{ url: string; started: () => boolean; release: () => void; stop: () => Promise<void> }> {
  let hits = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const https = createServer({ cert: cert.chainPem, key: cert.privateKeyPem }, (req, res) => {
    hits++;
    res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': bytes.length * 2 });
    res.write(bytes.subarray(0, bytes.length >> 1));
    void released.then(() => res.destroy());
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  const { port } = https.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/`,
    started: () => hits > 0,
    release,
    stop: () => {
      release();
      https.closeAllConnections();
      return new Promise<void>((r) => https.close(() => r()));
    },
  };
}

async function command(id: string, rollout: string, file: string, version: string, extra: Record<string, unknown> = {}): Promise<void> {
  const url = `${server!.url}${file}`;
  await ops.publishAsync(`devices/${deviceId}/cmd/ota`, JSON.stringify({ id, rollout, url, version, ...extra }), { qos: 1 });
}

describe.skipIf(!ready)(`OTA through the agent on a provisioned virtual board (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    chip.powerOn();
    const passphrase = randomBytes(24).toString('base64');
    const ca = await initCa({ dir: join(dir, 'ca'), passphrase });
    fleet = await startFleetBroker({ ca });
    const prov = await provisionAgentBoardWithSigner(dir, { id: 'ota-line', caPassphrase: passphrase, mqttServer: fleet.server, port });
    deviceId = prov.deviceId;
    // The bundles the rollout would serve: signed with the key the board trusts, and one not.
    const bundles = join(dir, 'bundles');
    mkdirSync(bundles);
    const build = (version: string, fsFiles = agentFsFiles()) => makeDemoFirmware({ name: 'espfleet-agent', version, appSize: 0x18000, fsFiles }).bundle;
    writeFileSync(join(bundles, 'fw-1.1.0.zip'), signBundle(build('1.1.0'), prov.signer.privateKeyPem, 0));
    writeFileSync(join(bundles, 'fw-1.2.0-other-key.zip'), signBundle(build('1.2.0'), generateSigningKey().privateKeyPem, 0));
    const silent = { ...agentFsFiles(), 'init.js': new TextEncoder().encode("print('no agent in this build');\n") };
    writeFileSync(join(bundles, 'fw-1.3.0-no-agent.zip'), signBundle(build('1.3.0', silent), prov.signer.privateKeyPem, 0));
    writeFileSync(join(bundles, 'fw-1.0.5.zip'), signBundle(build('1.0.5'), prov.signer.privateKeyPem, 0));
    writeFileSync(join(bundles, 'fw-1.4.0-unsigned.zip'), build('1.4.0'));
    const whole = signBundle(build('1.4.0'), prov.signer.privateKeyPem, 0);
    writeFileSync(join(bundles, 'fw-1.4.0-truncated.zip'), whole.subarray(0, Math.floor(whole.length * 0.6)));
    cert = await issueServerCert(ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
    server = await startFirmwareServer({ bundlesDir: bundles, certPem: cert.chainPem, keyPem: cert.privateKeyPem });
    ops = await fleet.operator();
    seen = recorder(ops);
    await ops.subscribeAsync('devices/#');
    chip.attachFirmware(agentFirmware());
    await hardReset(chip);
    await waitUntil(() => lastStatus()?.fw_version === '1.0.0', `the first status (log: ${chip.bootLog().slice(-600)})`, 15_000);
    const n = seen.length;
    const set = await espfleet(['device', 'config', 'set', `espfleet.ota.allowed_hosts=${new URL(server.url).hostname}`, '--port', port]);
    expect(set.code, set.stderr).toBe(0);
    // The set reboots the board; a command sent before it is back is lost (clean session).
    await waitUntil(() => seen.slice(n).some((m) => m.topic === `devices/${deviceId}/status` && m.payload.includes('"online":true')), 'online again after the config set', 15_000);
  }, 180_000);

  it('cmd/ota → downloading → applied → reboot uncommitted → verifying → committed; status and espfleet.rollout follow', async () => {
    await command('ota-r1', 'r1', 'fw-1.1.0.zip', '1.1.0', { commit_timeout: 300 });
    await waitUntil(() => otaStatus().some((s) => s.state === 'committed'), `committed (log: ${chip.bootLog().slice(-800)})`, 60_000);
    const states = otaStatus().map((s) => s.state);
    expect(states[0]).toBe('downloading');
    expect(states.slice(-3)).toEqual(['applied', 'verifying', 'committed']);
    expect(otaStatus().at(-1)).toMatchObject({ rollout: 'r1', cmd: 'ota-r1', version: '1.1.0', running: '1.1.0' });
    await waitUntil(() => lastStatus()?.ota === 'committed', 'a status saying committed');
    expect(lastStatus()).toMatchObject({ fw_version: '1.1.0', rollout: 'r1' });
    expect(await cfg('espfleet.rollout')).toBe('r1');
  }, 120_000);

  it('refusals on the board: wrong host, http://, an older or the same version, unsigned, truncated download, a second update while one downloads — each reported with its reason, firmware untouched', async () => {
    const otadata = () => Buffer.from(chip.flash.read(0xd000, 0x2000)).toString('hex');
    const before = otadata();
    const served = new URL(server!.url);
    const cases: Array<{ id: string; url?: string; file?: string; version: string; state: 'refused' | 'failed'; reason: RegExp }> = [
      { id: 'bad-host', url: `https://evil.example.net:${served.port}/fw-1.4.0.zip`, version: '1.4.0', state: 'refused', reason: /host/ },
      { id: 'bad-scheme', url: `http://${served.hostname}:${served.port}/fw-1.4.0.zip`, version: '1.4.0', state: 'refused', reason: /https/ },
      { id: 'older', file: 'fw-1.0.5.zip', version: '1.0.5', state: 'refused', reason: /newer|older|version/ },
      { id: 'same', file: 'fw-1.1.0.zip', version: '1.1.0', state: 'refused', reason: /newer|same|version/ },
      { id: 'unsigned', file: 'fw-1.4.0-unsigned.zip', version: '1.4.0', state: 'failed', reason: /Signature check failed/ },
      { id: 'truncated', file: 'fw-1.4.0-truncated.zip', version: '1.4.0', state: 'failed', reason: /Premature end|truncated|Incomplete|end of archive/i },
    ];
    for (const c of cases) {
      const n = seen.length;
      const url = c.url ?? `${server!.url}${c.file}`;
      await ops.publishAsync(`devices/${deviceId}/cmd/ota`, JSON.stringify({ id: `ota-${c.id}`, rollout: `r-${c.id}`, url, version: c.version }), { qos: 1 });
      await waitUntil(() => otaStatus(n).some((x) => x.state === c.state), `${c.id}: ${c.state} (got ${JSON.stringify(otaStatus(n))})`, 60_000);
      expect(otaStatus(n).at(-1), c.id).toMatchObject({ rollout: `r-${c.id}`, state: c.state, running: '1.1.0', reason: expect.stringMatching(c.reason) });
      expect(otadata(), `${c.id}: otadata untouched`).toBe(before);
    }
    // A second update while the first downloads is refused. The first download is held open by
    // a server that sends half the bytes and waits: a fast-failing first download once ended
    // before the second command arrived on a loaded machine, and the second then ran.
    const held = await holdingServer(readFileSync(join(dir, 'bundles', 'fw-1.4.0-truncated.zip')));
    try {
      const n = seen.length;
      await command('ota-first', 'r-first', '', '1.4.0', { url: `${held.url}fw-1.4.0.zip` });
      await waitUntil(() => held.started(), 'the first download reaches the server', 60_000);
      await command('ota-second', 'r-second', 'fw-1.4.0-unsigned.zip', '1.4.0');
      await waitUntil(() => otaStatus(n).some((x) => x.rollout === 'r-second'), () => `an answer to the second (got ${JSON.stringify(otaStatus(n))})`, 60_000);
      expect(otaStatus(n).find((x) => x.rollout === 'r-second')).toMatchObject({ state: 'refused', reason: expect.stringMatching(/in progress/) });
      held.release();
      await waitUntil(() => otaStatus(n).some((x) => x.rollout === 'r-first' && x.state === 'failed'), () => `the first ends failed (got ${JSON.stringify(otaStatus(n))})`, 60_000);
    } finally {
      await held.stop();
    }
    expect(otadata()).toBe(before);
    expect(lastStatus()?.fw_version).toBe('1.1.0');
  }, 300_000); // seven updates in a row on a loaded machine: each step has its own bound above

  it('a bundle signed by a key the board does not trust → failed, with the firmware\'s reason; the running firmware is untouched', async () => {
    const n = seen.length;
    await command('ota-r2', 'r2', 'fw-1.2.0-other-key.zip', '1.2.0');
    await waitUntil(() => otaStatus(n).some((s) => s.state === 'failed'), 'failed', 60_000);
    expect(otaStatus(n).at(-1)).toMatchObject({ rollout: 'r2', state: 'failed', running: '1.1.0', reason: expect.stringMatching(/^OTA\.Update error /) });
    expect(lastStatus()?.fw_version).toBe('1.1.0');
  }, 120_000);

  it('new firmware whose agent never runs is reverted by the firmware\'s commit timer; the old agent reports reverted', async () => {
    const n = seen.length;
    await command('ota-r3', 'r3', 'fw-1.3.0-no-agent.zip', '1.3.0', { commit_timeout: 150 });
    await waitUntil(() => otaStatus(n).some((s) => s.state === 'applied'), 'applied', 60_000);
    await waitUntil(() => chip.bootLog().includes('no agent in this build'), 'the silent firmware up', 60_000);
    clock.advance(160_000); // past its commit timeout
    await waitUntil(() => otaStatus(n).some((s) => s.state === 'reverted'), `reverted (log: ${chip.bootLog().slice(-800)})`, 60_000);
    expect(otaStatus(n).at(-1)).toMatchObject({ rollout: 'r3', version: '1.3.0', running: '1.1.0', reason: expect.stringContaining('did not commit') });
    expect(lastStatus()).toMatchObject({ fw_version: '1.1.0', ota: 'reverted' });
  }, 180_000);
});
