// Issue 17: a headless fleet — 6 virtual boards in this process, each with the Mongoose OS
// double and the real agent, provisioned by the station's pipeline over the direct fast path
// (4 with development flash encryption, 2 plaintext ones sharing sectors copy-on-write) — takes
// a real rollout through mosquitto with the generated profile; and `espfleet sim fleet` as a
// command: its help, and a run of 3 boards stopped with SIGTERM.
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa } from '../../certs/index.ts';
import { MOSQUITTO, mosquittoAvailable, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { LittlefsImage } from '../../firmware-js/littlefs/index.ts';
import { parsePartitionTable } from '../../firmware-js/partition/index.ts';
import { spawnCli } from '../../provisioner/test/cli-child.ts';
import { espfleet } from '../../provisioner/test/cli-harness.ts';
import { writeStationFixture } from '../../provisioner/test/station-fixture.ts';
import { loadStationConfig } from '../../provisioner/station/config.ts';
import { cpuFlashView } from '../virtual-esp32/boot/flash-view.ts';
import { startFleetRig, type FleetRig } from '../fleet/fleet-rig.ts';
import type { HeadlessBoard } from '../fleet/headless-fleet.ts';
import { startFleetBroker, type FleetBroker } from './helpers/fleet-broker.ts';

const available = mosquittoAvailable();
const BOARDS = 6;
const PLAINTEXT = 2;

interface AuditEntry {
  action: string;
  subject: { deviceId?: string };
}

/** The board's files as its running firmware sees them: fs_N of the running slot, through the chip's decryption. */
function boardFiles(b: HeadlessBoard): LittlefsImage {
  const view = cpuFlashView(b.chip.flash, b.chip.efuse);
  const table = parsePartitionTable(view.read(0x8000, 0xc00));
  const slot = b.chip.firmwareSession?.slot.otaIndex ?? 0;
  const fs = table.entries.find((e) => e.label === `fs_${slot}`);
  if (!fs) throw new Error(`no fs_${slot}`);
  return new LittlefsImage(view.read(fs.offset, fs.size), { blockSize: 4096, progSize: 128 });
}

const fingerprint = (hex: string) => hex.replace(/:/g, '').toLowerCase();

describe.skipIf(!available)(`a headless fleet of ${BOARDS} boards takes a rollout through mosquitto (needs ${MOSQUITTO})`, () => {
  let rig: FleetRig;
  let rollout: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    rig = await startFleetRig({ name: 'headless', boards: BOARDS, plaintext: PLAINTEXT, encryption: 'development', operators: ['rollout'] });
    await waitUntil(() => rig.fleet.provisioned().every((b) => rig.lastStatus(b.deviceId ?? '')?.fw_version === '1.0.0'), 'every board online on 1.0.0', 120_000);
    const bundle = rig.publish('2.0.0');
    rollout = await espfleet([
      'ota', 'rollout', 'start', '--station', rig.fixture.stationPath, '--bundle', bundle.path, '--url', bundle.url, '--select', 'all', '--id', 'headless',
      '--waves', '1,50%,100%', '--rate', '600/min', '--max-failures', '0', '--min-sample', '1', '--device-timeout', '15m', '--commit-timeout', '600',
      ...rig.operatorFlags('rollout'), '--json', '--quiet',
    ]);
    rig.fleet.shareSectors();
  }, 600_000);
  afterAll(async () => {
    await rig?.stop();
  });

  it('provisions every board through the station pipeline: 4 encrypted, 2 plaintext, distinct device ids', () => {
    const boards = rig.fleet.boards;
    expect(boards.map((b) => [b.outcome.ok, b.outcome.error])).toEqual(boards.map(() => [true, null]));
    expect(boards.map((b) => b.encrypted)).toEqual([true, true, true, true, false, false]);
    expect(boards.map((b) => b.chip.flashEncryptionEnabled())).toEqual([true, true, true, true, false, false]);
    expect(new Set(boards.map((b) => b.deviceId)).size).toBe(BOARDS);
    // The whole pipeline ran for each, ending with the record.
    for (const b of boards) expect(b.outcome.steps).toEqual(['identify', 'identity', 'compose', 'plan', 'flash', 'boot', 'record']);
  });

  it('commits 2.0.0 on every board: the rollout says so, and so do the boards themselves', () => {
    expect(rollout.code, rollout.stderr.slice(-2000)).toBe(0);
    const rec = JSON.parse(rollout.stdout) as { state: { status: string; boards: Record<string, { status: string }> } };
    expect(rec.state.status).toBe('done');
    for (const b of rig.fleet.boards) {
      const id = b.deviceId ?? '';
      expect(rec.state.boards[id]?.status).toBe('committed');
      expect(rig.lastStatus(id)?.fw_version).toBe('2.0.0');
      expect(b.chip.firmwareSession?.slot.app?.version).toBe('2.0.0');
    }
  });

  it("each board's flash holds its own certificate and key, matching its registry record and no other board's", async () => {
    const list = await espfleet(['devices', 'list', '--station', rig.fixture.stationPath, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const records = JSON.parse(list.stdout) as Array<{ deviceId: string; mac: string; status: string; certFingerprintSha256: string; encryptionMode: string }>;
    const seen = new Set<string>();
    for (const b of rig.fleet.boards) {
      const files = boardFiles(b);
      const cert = new X509Certificate(Buffer.from(files.readFile('/device.crt')));
      const key = createPrivateKey(Buffer.from(files.readFile('/device.key')));
      expect(cert.checkPrivateKey(key)).toBe(true);
      expect(cert.subject).toContain(`CN=${b.deviceId}`);
      const rec = records.find((r) => r.deviceId === b.deviceId);
      expect(rec).toMatchObject({ mac: b.outcome.mac, status: 'provisioned', encryptionMode: b.encrypted ? 'development' : 'off' });
      expect(fingerprint(cert.fingerprint256)).toBe(fingerprint(rec?.certFingerprintSha256 ?? ''));
      seen.add(cert.fingerprint256);
    }
    expect(seen.size).toBe(BOARDS);
    expect(records).toHaveLength(BOARDS);
  });

  it('plaintext boards share identical sectors, and a write to a shared sector on one leaves the other unchanged', () => {
    const [a, b] = rig.fleet.boards.filter((x) => !x.encrypted) as [HeadlessBoard, HeadlessBoard];
    // app_0 (0x10000) still holds 1.0.0 on both after the update to app_1: the same bytes, one copy.
    const at = 0x10000;
    expect(a.chip.flash.sharesSector(b.chip.flash, at)).toBe(true);
    expect(rig.fleet.memory().flash.sharedSectors).toBeGreaterThan(0);
    const before = b.chip.flash.read(at, 0x1000);
    expect(Buffer.from(a.chip.flash.read(at, 0x1000)).equals(Buffer.from(before))).toBe(true);
    // NOR rules on the copy: programming clears bits only; erasing sets the sector to 0xFF.
    const old0 = before[16] ?? 0;
    a.chip.flash.program(at + 16, Uint8Array.of(0x0f));
    expect(a.chip.flash.read(at + 16, 1)[0]).toBe(old0 & 0x0f);
    expect(a.chip.flash.sharesSector(b.chip.flash, at)).toBe(false);
    expect(Buffer.from(b.chip.flash.read(at, 0x1000)).equals(Buffer.from(before))).toBe(true);
    a.chip.flash.eraseSector(at + 0x1000);
    expect(a.chip.flash.read(at + 0x1000, 0x1000).every((x) => x === 0xff)).toBe(true);
    expect(b.chip.flash.read(at + 0x1000, 0x1000).every((x) => x === 0xff)).toBe(false);
  });

  it('the registry has a provisioned record and the audit log the provisioning entries for every board; the chain verifies', async () => {
    const cfg = loadStationConfig(rig.fixture.stationPath);
    const entries = readFileSync(cfg.paths.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    for (const b of rig.fleet.boards) {
      const actions = entries.filter((e) => e.subject.deviceId === b.deviceId).map((e) => e.action);
      const expected = ['provision.start', 'provision.identity', ...(b.encrypted ? ['provision.escrow', 'provision.efuse'] : []), 'provision.flash', 'provision.done'];
      expect(actions.filter((x) => x.startsWith('provision.'))).toEqual(expected);
    }
    const verify = await espfleet(['audit', 'verify', '--station', rig.fixture.stationPath, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
  });
});

describe('espfleet sim fleet', () => {
  it('--help teaches: what a board is, the fast path, stopping, sharing, and examples', async () => {
    const r = await espfleet(['sim', 'fleet', '--help']);
    expect(r.code).toBe(0);
    for (const text of ['--count <n>', '--station <dir|station.toml>', '--mqtt-server <host:port>', '--plaintext <n>', 'fast path', 'SIGTERM', 'copy-on-write', 'Examples:', 'espfleet sim fleet --count 100 --station /srv/line1']) {
      expect(r.stdout).toContain(text);
    }
  });

  it('refuses a missing station before any board is made', async () => {
    const r = await espfleet(['sim', 'fleet', '--count', '2', '--station', '/nonexistent/line9']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no station config at /nonexistent/line9');
  });

  describe.skipIf(!available)(`a run of 3 boards stopped with SIGTERM (needs ${MOSQUITTO})`, () => {
    let broker: FleetBroker;
    let dir: string;
    let stationPath: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'espfleet-sim-fleet-'));
      // The station issues from the CA the broker trusts.
      const caPassphrase = randomBytes(24).toString('base64');
      const ca = await initCa({ dir: join(dir, 'ca'), passphrase: caPassphrase });
      broker = await startFleetBroker({ ca });
      stationPath = (await writeStationFixture(dir, { id: 'simfleet', caPassphrase, mqttServer: broker.server, encryption: 'development' })).stationPath;
    }, 60_000);
    afterAll(async () => {
      await broker?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('provisions them, runs them online, and on SIGTERM stops with a summary and a consistent registry', async () => {
      const run = spawnCli(['sim', 'fleet', '--count', '3', '--plaintext', '1', '--station', dir, '--json']);
      try {
        await waitUntil(() => /all 3 boards online/.test(run.stderr()) || !run.running(), 'all 3 boards online', 180_000);
        expect(run.stderr()).toMatch(/3 provisioned, 0 failed in/);
      } finally {
        await run.stop();
      }
      const exit = await run.exited;
      expect(exit, run.stderr()).toEqual({ code: 0, signal: null });
      const summary = JSON.parse(run.lines.join('\n')) as { provisioned: number; failed: number; boards: Array<{ deviceId: string; port: string; encrypted: boolean; provisioned: boolean }> };
      expect(summary).toMatchObject({ provisioned: 3, failed: 0 });
      expect(summary.boards.map((b) => [b.port, b.encrypted, b.provisioned])).toEqual([
        ['sim://simfleet-0', true, true],
        ['sim://simfleet-1', true, true],
        ['sim://simfleet-2', false, true],
      ]);
      // The registry, after the process is gone: one provisioned record per board, nothing half-done.
      const list = await espfleet(['devices', 'list', '--station', stationPath, '--json']);
      expect(list.code, list.stderr).toBe(0);
      const records = JSON.parse(list.stdout) as Array<{ deviceId: string; status: string; encryptionMode: string }>;
      expect(records.map((r) => [r.deviceId, r.status, r.encryptionMode]).sort()).toEqual(
        summary.boards.map((b) => [b.deviceId, 'provisioned', b.encrypted ? 'development' : 'off']).sort(),
      );
      const verify = await espfleet(['audit', 'verify', '--station', stationPath, '--json']);
      expect(verify.code, verify.stderr).toBe(0);
    }, 300_000);
  });
});
