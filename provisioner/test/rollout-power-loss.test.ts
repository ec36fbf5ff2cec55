// Issue 15 acceptance, power loss: one rollout to 11 station-provisioned, encrypted virtual
// boards running the real agent, each board losing its power at a different point of its
// update — on the command, at the first / middle / last sector of the app slot, at the first /
// middle / last sector of the fs slot, after finalize, on the first boot before the commit,
// and at the commit's otadata and NVS writes — and powered again 300 ms later. Every board
// boots a firmware the boot check accepts and comes back online; the rollout ends with every
// board in a final state (committed, failed or reverted), none left in flight.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO, mosquittoAvailable, waitUntil } from '../../certs/test/mosquitto-harness.ts';
import { OTA_POWER_POINTS, armOtaPoint } from '../../hil-tests/faults/ota-faults.ts';
import { espfleet } from './cli-harness.ts';
import { startAgentFleet, type AgentFleet } from './agent-fleet.ts';

const available = mosquittoAvailable();
// The cut points are the fault matrix's OTA power points (hil-tests/faults/ota-faults.ts), each with its expected ending.
const CUTS = OTA_POWER_POINTS;

let f: AgentFleet;
let brokerArgs: string[] = [];

describe.skipIf(!available)(`power loss at ${CUTS.length} points of an update during a rollout (needs ${MOSQUITTO})`, () => {
  beforeAll(async () => {
    f = await startAgentFleet({ name: 'rollout-cuts', boards: CUTS.length, operators: ['cuts'] });
    brokerArgs = f.operatorFlags('cuts');
  }, 300_000);
  afterAll(async () => {
    await f?.stop();
  });

  it('every board boots a valid firmware and comes back; the rollout ends with each board committed, failed or reverted', async () => {
    const b = f.publish('1.1.0');
    const fsLen = b.fs.length;
    const fired = new Map<string, string>();
    const offs = f.boards.map((board, i) =>
      armOtaPoint(board.chip, CUTS[i]!, { appLen: b.app.length, fsLen }, () => {
        fired.set(board.deviceId, CUTS[i]!.name);
        board.chip.powerOff();
        setTimeout(() => board.chip.powerOn(), 300);
      }),
    );
    const r = await espfleet([
      'ota', 'rollout', 'start', '--station', f.station.stationPath, '--bundle', b.path, '--url', b.url, '--select', 'all', '--id', 'r-cuts',
      '--waves', '100%', '--rate', '6000/min', '--max-failures', '20', '--min-sample', '1', '--device-timeout', '3m', ...brokerArgs, '--json',
    ]);
    offs.forEach((off) => off());
    expect(r.code === 0 || r.code === 1, r.stderr.slice(-2000)).toBe(true);
    if (!r.stdout.startsWith('{"id"') && !r.stdout.includes('"state"')) throw new Error(`rollout: ${r.stdout} ${r.stderr.slice(-2000)}`);
    const rec = JSON.parse(r.stdout) as { state: { status: string; boards: Record<string, { status: string }> } };
    const story = f.boards.map((x, i) => `${x.deviceId} [${CUTS[i]!.name}] cut=${fired.get(x.deviceId) ?? 'no'} → ${rec.state?.boards[x.deviceId]?.status} ota=${JSON.stringify(f.otaStatuses(x.deviceId).slice(-2).map((s) => [s.state, s.reason]))}`).join('\n');
    expect(fired.size, story).toBe(CUTS.length);
    expect(rec.state.status, story).toBe('done');
    for (const [i, board] of f.boards.entries()) {
      const final = rec.state.boards[board.deviceId]?.status;
      // After a cut in the download the old firmware reports the interruption; after finalize the
      // new slot boots and commits; before the commit (or inside its otadata write) it reverts;
      // inside the commit's NVS write, otadata already names the new slot.
      expect(final, `${CUTS[i]!.name}\n${story}`).toBe(CUTS[i]!.ends);
      // A firmware the boot check accepts, online with the version the rollout recorded.
      await waitUntil(() => board.chip.state === 'app' && f.lastStatus(board.deviceId)?.online === true, `${board.deviceId} online`, 30_000);
      const version = final === 'committed' ? '1.1.0' : '1.0.0';
      expect(board.chip.bootLog(), `${CUTS[i]!.name}\n${story}`).toMatch(new RegExp(`would run app 'app_[01]' at 0x[0-9a-f]+, version ${version.replace(/\./g, '\\.')}`));
      expect(f.lastStatus(board.deviceId)?.fw_version, `${CUTS[i]!.name}\n${story}`).toBe(version);
    }
    // Every outcome is on record: the audit log has one final report per board.
    const audit = readFileSync(join(f.dir, 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { details?: { step?: string }; subject: Record<string, string> });
    const reports = audit.filter((e) => e.subject.rollout === 'r-cuts' && e.details?.step === 'report');
    expect(new Set(reports.map((e) => e.subject.device)).size).toBe(CUTS.length);
    console.log(story);
  }, 600_000);
});
