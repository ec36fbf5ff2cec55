// The board made at the factory and its first time online.
import { expect } from 'vitest';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { id, topic, since, online, ok } from './kit.ts';
import { step, type Scenario } from '../story.ts';

export const factoryStories: readonly Scenario[] = [
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
];
