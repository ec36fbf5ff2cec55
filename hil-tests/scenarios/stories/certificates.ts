// The certificate's end of life: renewed by the renewal service, then revoked and kicked.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { spawnCli, type CliChild } from '../../../provisioner/test/cli-child.ts';
import type { Rig } from '../rig.ts';
import { json, id, topic, since, online, ok, port, caArgs, boardPair } from './kit.ts';
import { step, type Scenario } from '../story.ts';

export const certificateStories: readonly Scenario[] = [
  {
    name: 'renewal over MQTT by espfleet ca renewd',
    story: 'cmd/renew: the board makes a key and a CSR, renewd signs it and publishes the certificate, the board switches to it',
    budgetMs: 180_000,
    steps: [
      step('with ca renewd running, cmd/renew ends in a renewed event and a new certificate on the board', async (r) => {
        const before = await boardPair(r);
        const renewd = startRenewd(r);
        try {
          await waitUntil(() => renewd.lines.some((l) => l.includes('"ready"')) || !renewd.running(), `renewd ready (${renewd.stderr()})`, 60_000);
          expect(renewd.running(), renewd.stderr()).toBe(true);
          const n = r.seen.length;
          await r.watcher.publishAsync(topic(r, 'cmd/renew'), JSON.stringify({ id: 'hil-renew-1' }), { qos: 1 });
          await waitUntil(() => since(r, n, 'events').map(json).some((e) => e.event === 'renew' && e.phase === 'renewed'), `the renewed event (renewd: ${renewd.stderr().slice(-600)})`, 120_000);
          const after = await boardPair(r);
          expect(after.serial).not.toBe(before.serial);
          // renewd records the new certificate once the board is online on it (after the board's event).
          await waitUntil(() => renewd.lines.some((l) => l.includes('"crl"')), 'renewd confirming the board and publishing the CRL', 60_000);
          const rec = JSON.parse(await ok(r, ['devices', 'show', id(r), '--station', r.station.stationPath, '--json'])) as { certSerial: string };
          expect(rec.certSerial.toLowerCase()).toBe(after.serial);
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
function startRenewd(r: Rig): CliChild {
  const who = r.broker.renewer;
  writeFileSync(join(r.dir, 'renewd.pem'), who.chainPem);
  writeFileSync(join(r.dir, 'renewd.key'), who.privateKeyPem, { mode: 0o600 });
  return spawnCli(
    [
      'ca', 'renewd', ...caArgs(r), '--station', r.station.stationPath,
      ...r.broker.brokerArgs, '--client-cert', join(r.dir, 'renewd.pem'), '--client-key', join(r.dir, 'renewd.key'),
      '--crl-out', r.broker.crlPath, '--broker-pid-file', r.broker.pidFile, '--json',
    ],
    { cwd: r.dir },
  );
}
