// The board's life in the fleet as nine stories, in the order a board lives them: made at the
// factory, online, serviced in the field, updated (and an update that fails, and one that is
// refused), its certificate renewed twice over (by a technician, by the renewal service), and
// at last revoked. They only use what a real board offers: its port, the broker, the
// firmware server. Steps assert on content; the timeouts are only how long to wait for it.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { repoRoot } from '../../scripts/lib/oracles.ts';
import type { Message, Rig } from './rig.ts';
import { step, type Scenario } from './story.ts';

const json = (m: Message) => JSON.parse(m.payload) as Record<string, unknown>;
const id = (r: Rig) => r.facts.deviceId;
const topic = (r: Rig, t: string) => `devices/${id(r)}/${t}`;
const since = (r: Rig, n: number, t: string) => r.seen.slice(n).filter((m) => m.topic === topic(r, t));
const online = (r: Rig, n: number) => since(r, n, 'status').map(json).filter((s) => s.online === true);
const ota = (r: Rig, n: number) => since(r, n, 'ota/status').map(json);

async function ok(r: Rig, args: string[]): Promise<string> {
  const run = await r.cli(args);
  expect(run.code, `espfleet ${args.slice(0, 3).join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}
const port = (r: Rig) => ['--port', r.board.portUrl];
const caArgs = (r: Rig) => ['--ca-dir', r.station.caDir, '--passphrase-file', r.station.passFile];
const cfg = async (r: Rig, key: string) => (await ok(r, ['device', 'config', 'get', key, ...port(r)])).trim();
const boardFile = (r: Rig, name: string) => ok(r, ['device', 'fs', 'get', name, ...port(r)]);
/** The pair the board connects with, read off the board (kept in memory only). */
async function boardPair(r: Rig): Promise<{ cert: string; key: string; serial: string }> {
  const cert = await boardFile(r, await cfg(r, 'mqtt.ssl_cert'));
  const key = await boardFile(r, await cfg(r, 'mqtt.ssl_key'));
  return { cert, key, serial: new X509Certificate(cert).serialNumber.toLowerCase() };
}

/** Sends cmd/ota for a published bundle and waits for the board's final ota/status. */
async function update(r: Rig, kind: 'update' | 'crash' | 'unsigned', final: string, waitMs: number): Promise<{ version: string; statuses: Array<Record<string, unknown>> }> {
  const b = r.publish(kind);
  const n = r.seen.length;
  const rollout = `hil-${kind}`;
  await r.watcher.publishAsync(topic(r, 'cmd/ota'), JSON.stringify({ id: `ota-${rollout}`, rollout, url: b.url, version: b.version }), { qos: 1 });
  await waitUntil(() => ota(r, n).some((s) => s.state === final), `ota/status ${final} for ${b.version} (got ${JSON.stringify(ota(r, n))})`, waitMs);
  return { version: b.version, statuses: ota(r, n) };
}

export const fleetStories: readonly Scenario[] = [
  {
    name: 'factory provisioning: flashed, given its own identity, recorded',
    story: 'the station provisions the board; it boots the factory firmware as the device the registry names',
    budgetMs: 240_000,
    steps: [
      step('espfleet provision writes the firmware and a key and certificate made for this board (encrypting its flash where the rig asks) and reports it provisioned', async (r) => {
        const out = await ok(r, ['provision', '--station', r.station.stationPath, '--json']);
        const rows = JSON.parse(out) as Array<{ port: string; result: string; deviceId: string }>;
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ port: r.board.portUrl, result: 'provisioned', deviceId: expect.stringMatching(/^esp32_[0-9A-F]{6}$/i) });
        r.facts.deviceId = rows[0]!.deviceId;
      }),
      step('the registry has the board as provisioned, with a certificate serial', async (r) => {
        const rec = JSON.parse(await ok(r, ['devices', 'show', id(r), '--station', r.station.stationPath, '--json'])) as Record<string, unknown>;
        expect(rec).toMatchObject({ deviceId: id(r), status: 'provisioned', certSerial: expect.stringMatching(/^[0-9a-f]+$/i) });
      }),
      step('reset: the board boots the factory app, 1.0.0', async (r) => {
        r.board.console.skipPending(); // the provisioning traffic is not the boot
        await r.board.reset();
        await r.board.expect(/espfleet-agent 1\.0\.0/, 30_000);
      }),
    ],
  },
  {
    name: 'first connection: retained online status, last will on a lost session',
    story: 'the agent connects over mTLS, publishes a retained status; a reset makes the broker publish its will',
    budgetMs: 90_000,
    steps: [
      step('the agent says it is connected, as its device id', async (r) => {
        await r.board.expect(new RegExp(`espfleet: connected as ${id(r)}`), 60_000);
      }),
      step('devices/<id>/status is retained: a client subscribing now gets online:true on 1.0.0', async (r) => {
        const m = await r.broker.retained(topic(r, 'status'));
        expect(m?.retain).toBe(true);
        expect(JSON.parse(m!.payload)).toMatchObject({ online: true, fw_version: '1.0.0' });
      }),
      step('reset without a DISCONNECT: the broker publishes the will {"online":false}, then the board is back online', async (r) => {
        const n = r.seen.length;
        await r.board.reset();
        await waitUntil(() => since(r, n, 'status').some((m) => m.payload === '{"online":false}'), 'the will', 60_000);
        await waitUntil(() => online(r, n).length > 0, 'online again', 60_000);
        await r.board.expect(new RegExp(`espfleet: connected as ${id(r)}`), 30_000);
      }),
    ],
  },
  {
    name: 'field service over USB: info, config, filesystem',
    story: 'a technician identifies the board, changes a setting (the board reboots with it) and copies a file on and off',
    budgetMs: 90_000,
    steps: [
      step('device info names the device id and the running version', async (r) => {
        expect(JSON.parse(await ok(r, ['device', 'info', ...port(r), '--json']))).toMatchObject({ mode: 'mongoose-os', id: id(r), fw_version: '1.0.0' });
      }),
      step('device config get device.id is the id the station gave it', async (r) => {
        expect(await cfg(r, 'device.id')).toBe(id(r));
      }),
      step('device config set espfleet.status_interval=120 saves and reboots; the board comes back with it', async (r) => {
        const n = r.seen.length;
        r.board.console.skipPending();
        expect(await ok(r, ['device', 'config', 'set', 'espfleet.status_interval=120', ...port(r)])).toContain('the board rebooted');
        await r.board.expect(/espfleet-agent \d+\.\d+\.\d+/, 30_000);
        await waitUntil(() => online(r, n).length > 0, 'online after the reboot', 60_000);
        expect(await cfg(r, 'espfleet.status_interval')).toBe('120');
      }),
      step('device fs put / ls / get round-trips a file', async (r) => {
        const text = `hil note for ${id(r)}\n`;
        const local = join(r.dir, 'hil-note.txt');
        writeFileSync(local, text);
        await ok(r, ['device', 'fs', 'put', local, 'hil-note.txt', ...port(r)]);
        const ls = JSON.parse(await ok(r, ['device', 'fs', 'ls', ...port(r), '--json'])) as Array<{ name: string; size: number }>;
        expect(ls).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'hil-note.txt', size: text.length }), expect.objectContaining({ name: 'init.js' })]));
        expect(await boardFile(r, 'hil-note.txt')).toBe(text);
      }),
    ],
  },
  {
    name: 'field certificate rotation over USB',
    story: 'device rotate-cert: a key made on the board, its CSR signed, the board reconnects on the new pair; the old one is revoked',
    budgetMs: 120_000,
    steps: [
      step('rotate-cert reports the new certificate and the revoked old serial', async (r) => {
        const old = await boardPair(r);
        const n = r.seen.length;
        const out = JSON.parse(await ok(r, ['device', 'rotate-cert', ...port(r), ...caArgs(r), '--station', r.station.stationPath, '--json'])) as { deviceId: string; issued: { file: string; serialHex: string }; revokedOld: string };
        expect(out).toMatchObject({ deviceId: id(r), revokedOld: old.serial });
        expect(out.issued.serialHex.toLowerCase()).not.toBe(old.serial);
        expect(await cfg(r, 'mqtt.ssl_cert')).toBe(out.issued.file);
        expect((await boardPair(r)).serial).toBe(out.issued.serialHex.toLowerCase());
        await waitUntil(() => online(r, n).length > 0, 'online on the new pair', 60_000);
      }),
      step('the CA lists the old certificate as revoked (superseded)', async (r) => {
        const list = JSON.parse(await ok(r, ['ca', 'list', '--ca-dir', r.station.caDir, '--json'])) as Array<{ cn: string; status: string }>;
        const mine = list.filter((c) => c.cn === id(r));
        expect(mine.filter((c) => c.status === 'valid')).toHaveLength(1);
        expect(mine.filter((c) => c.status === 'revoked').length).toBeGreaterThanOrEqual(1);
      }),
    ],
  },
  {
    name: 'OTA: a signed update is downloaded, booted and committed',
    story: 'cmd/ota → downloading → applied → the new slot boots uncommitted → the health check commits it',
    budgetMs: 180_000,
    steps: [
      step('the board reports committed on ota/status, running the new version', async (r) => {
        const u = await update(r, 'update', 'committed', 150_000);
        expect(u.statuses[0]?.state).toBe('downloading');
        expect(u.statuses.map((s) => s.state).slice(-3)).toEqual(['applied', 'verifying', 'committed']);
        expect(u.statuses.at(-1)).toMatchObject({ rollout: 'hil-update', version: u.version, running: u.version });
      }),
      step('the console shows the reboot into the new app and the commit', async (r) => {
        await r.board.expect(/espfleet-agent 1\.1\.0/, 30_000);
        await r.board.expect(/espfleet: committed 1\.1\.0/, 30_000);
      }),
      step('the retained status says 1.1.0, committed', async (r) => {
        await waitUntil(() => r.seen.some((m) => m.topic === topic(r, 'status') && /"fw_version":"1\.1\.0"/.test(m.payload) && /"ota":"committed"/.test(m.payload)), 'status on 1.1.0', 30_000);
        expect(JSON.parse((await r.broker.retained(topic(r, 'status')))!.payload)).toMatchObject({ fw_version: '1.1.0', ota: 'committed' });
      }),
    ],
  },
  {
    name: 'OTA: firmware that fails its health check reverts by itself',
    story: 'the new firmware reboots before its agent runs; never committed, the board boots the old slot and reports reverted',
    budgetMs: 240_000,
    steps: [
      step('the crashing firmware runs once, then the board is back on 1.1.0 and reports reverted', async (r) => {
        r.board.console.skipPending();
        const u = await update(r, 'crash', 'reverted', 200_000);
        expect(u.statuses.map((s) => s.state)).toContain('applied');
        expect(u.statuses.at(-1)).toMatchObject({ rollout: 'hil-crash', version: u.version, running: '1.1.0' });
        await r.board.expect(/crashing before the agent starts/, 10_000);
        await r.board.expect(/espfleet-agent 1\.1\.0/, 30_000);
      }),
      step('device info: the board runs 1.1.0', async (r) => {
        expect(JSON.parse(await ok(r, ['device', 'info', ...port(r), '--json']))).toMatchObject({ fw_version: '1.1.0' });
      }),
    ],
  },
  {
    name: 'OTA: an unsigned bundle is refused',
    story: 'the firmware checks the bundle signature against update.key0; an unsigned one fails, nothing is switched',
    budgetMs: 120_000,
    steps: [
      step('ota/status failed with the firmware\'s signature reason; still running 1.1.0', async (r) => {
        r.board.console.skipPending();
        const u = await update(r, 'unsigned', 'failed', 100_000);
        expect(u.statuses.at(-1)).toMatchObject({ rollout: 'hil-unsigned', state: 'failed', running: '1.1.0', reason: expect.stringMatching(/Signature check failed/) });
      }),
      step('the board did not reboot (no ROM reset line since the command): device info still says 1.1.0', async (r) => {
        expect(r.board.console.pending()).not.toMatch(/rst:0x[0-9a-f]+ \(/);
        expect(JSON.parse(await ok(r, ['device', 'info', ...port(r), '--json']))).toMatchObject({ fw_version: '1.1.0' });
      }),
    ],
  },
  {
    name: 'renewal over MQTT by espfleet ca renewd',
    story: 'cmd/renew: the board makes a key and a CSR, renewd signs it and publishes the certificate, the board switches to it',
    budgetMs: 180_000,
    steps: [
      step('with ca renewd running, cmd/renew ends in a renewed event and a new certificate on the board', async (r) => {
        const before = await boardPair(r);
        const renewd = startRenewd(r);
        try {
          await waitUntil(() => renewd.lines.some((l) => l.includes('"ready"')) || renewd.exited(), `renewd ready (${renewd.stderr()})`, 60_000);
          expect(renewd.exited(), renewd.stderr()).toBe(false);
          const n = r.seen.length;
          await r.watcher.publishAsync(topic(r, 'cmd/renew'), JSON.stringify({ id: 'hil-renew-1' }), { qos: 1 });
          await waitUntil(() => since(r, n, 'events').map(json).some((e) => e.event === 'renew' && e.phase === 'renewed'), `the renewed event (renewd: ${renewd.stderr().slice(-600)})`, 120_000);
          const after = await boardPair(r);
          expect(after.serial).not.toBe(before.serial);
          const rec = JSON.parse(await ok(r, ['devices', 'show', id(r), '--station', r.station.stationPath, '--json'])) as { certSerial: string };
          expect(rec.certSerial.toLowerCase()).toBe(after.serial);
          await waitUntil(() => renewd.lines.some((l) => l.includes('"crl"')), 'renewd publishing the CRL', 30_000);
        } finally {
          await renewd.stop();
        }
      }),
      step('the board is online on the renewed pair', async (r) => {
        await waitUntil(() => r.seen.some((m) => m.topic === topic(r, 'status') && m.payload.includes('"online":true')), 'online', 30_000);
        expect(JSON.parse(await ok(r, ['device', 'call', 'Espfleet.CertStatus', ...port(r)]))).toMatchObject({ mqtt_connected: true });
      }),
    ],
  },
  {
    name: 'revocation: the broker refuses a revoked board, broker kick ends its session',
    story: 'ca revoke rewrites the broker CRL and reloads it; the open session survives until broker kick closes it and the will goes out',
    budgetMs: 120_000,
    steps: [
      step('ca revoke --crl-out --broker-pid-file: the next handshake with the board\'s certificate is refused as revoked', async (r) => {
        const pair = await boardPair(r);
        const from = r.broker.log().length;
        const out = JSON.parse(await ok(r, ['ca', 'revoke', ...caArgs(r), '--serial', pair.serial, '--reason', 'keyCompromise', '--crl-out', r.broker.crlPath, '--broker-pid-file', r.broker.pidFile, '--json']));
        expect(out).toMatchObject({ serial: pair.serial });
        await waitUntil(() => /Reloading config/.test(r.broker.log().slice(from)), 'mosquitto reloading', 10_000);
        // The reload logs before the TLS contexts are rebuilt: ask until the answer is the new one.
        let outcome = await r.broker.connectOutcome({ cert: pair.cert, key: pair.key });
        for (let i = 0; i < 20 && !/revoked/.test(outcome); i++) {
          await new Promise((res) => setTimeout(res, 100));
          outcome = await r.broker.connectOutcome({ cert: pair.cert, key: pair.key });
        }
        expect(outcome).toMatch(/^refused: .*certificate revoked/);
      }),
      step('broker kick: the board\'s session is closed, its will is published, and its reconnect is refused', async (r) => {
        const n = r.seen.length;
        const from = r.broker.log().length;
        await ok(r, ['broker', 'kick', ...caArgs(r), '--device', id(r), ...r.broker.brokerArgs, '--json']);
        await waitUntil(() => since(r, n, 'status').some((m) => m.payload === '{"online":false}'), 'the will after the kick', 30_000);
        await r.board.expect(/MQTT Disconnect/, 30_000);
        // After the takeover, the board's next TLS handshake fails the broker's CRL check.
        const afterKick = () => r.broker.log().slice(from).split(`Client ${id(r)} already connected, closing old connection`)[1] ?? '';
        await waitUntil(() => /certificate verify failed/.test(afterKick()), `the board's reconnect refused (broker log: ${r.broker.log().slice(from).slice(-600)})`, 60_000);
        expect(online(r, n)).toEqual([]);
      }),
    ],
  },
];

/** `espfleet ca renewd` as its own process, as an operator runs it. */
function startRenewd(r: Rig): { lines: string[]; stderr: () => string; exited: () => boolean; stop(): Promise<void> } {
  const who = r.broker.renewer;
  writeFileSync(join(r.dir, 'renewd.pem'), who.chainPem);
  writeFileSync(join(r.dir, 'renewd.key'), who.privateKeyPem, { mode: 0o600 });
  const args = [
    join(repoRoot, 'provisioner/cli/espfleet.mjs'), 'ca', 'renewd', ...caArgs(r), '--station', r.station.stationPath,
    ...r.broker.brokerArgs, '--client-cert', join(r.dir, 'renewd.pem'), '--client-key', join(r.dir, 'renewd.key'),
    '--crl-out', r.broker.crlPath, '--broker-pid-file', r.broker.pidFile, '--json',
  ];
  const child = spawn(process.execPath, args, { cwd: r.dir, env: { ...process.env, ESPFLEET_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    lines,
    stderr: () => err,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await done;
    },
  };
}
