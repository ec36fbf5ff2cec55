// Updates over MQTT and HTTPS (docs/ota-protocol.md): one committed, one reverted, one refused.
import { expect } from 'vitest';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { topic, since, ota, ok, port, update } from './kit.ts';
import { step, type Scenario } from '../story.ts';

export const otaStories: readonly Scenario[] = [
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
];
