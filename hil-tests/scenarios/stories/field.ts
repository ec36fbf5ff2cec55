// A technician with a USB cable: info, config, files, and a new certificate.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { waitUntil } from '../../../certs/test/mosquitto-harness.ts';
import { id, online, ok, port, caArgs, cfg, boardFile, boardPair } from './kit.ts';
import { step, type Scenario } from '../story.ts';

export const fieldStories: readonly Scenario[] = [
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
];
