// Issue 17, the fault matrix (docs/hil.md "The fault matrix"): every named fault point of
// provisioning, OTA and renewal, tried on its own virtual board — power cut, line fault or
// process killed — then the recovery the product prescribes, then the judge: the board is
// usable (boots a firmware the boot check accepts; online on a certificate the broker takes;
// provisioned / updated / renewed again) and every record agrees (escrow = BLK1, registry =
// board, one valid certificate, journals, audit chain). One fleet per flow, boards cut in
// parallel. The table is printed; ≥ 40 points, 0 bricked, 0 lost.
import { afterAll, describe, expect, it } from 'vitest';
import { MOSQUITTO, mosquittoAvailable } from '../../certs/test/mosquitto-harness.ts';
import { renderTable, summarize, type FaultFlow, type PointVerdict } from '../faults/fault-matrix.ts';
import { OTA_DRIVER_KILL, OTA_LINE_POINTS, OTA_POWER_POINTS } from '../faults/ota-faults.ts';
import { PROVISIONING_POINTS, runProvisioningFaults } from '../faults/provisioning-faults.ts';
import { RENEWAL_POINTS } from '../faults/renewal-faults.ts';
import { runFlow } from '../faults/run-matrix.ts';

const available = mosquittoAvailable();
const verdicts: PointVerdict[] = [];
afterAll(() => {
  if (verdicts.length > 0) console.log(`fault matrix:\n${renderTable(verdicts)}`);
});

const DEFINED: Record<FaultFlow, number> = {
  provisioning: PROVISIONING_POINTS.length,
  ota: OTA_POWER_POINTS.length + OTA_LINE_POINTS.length + 1,
  renewal: RENEWAL_POINTS.length,
};

/** Every point of the flow fired where it was armed and ended with a usable board and every record intact. */
async function expectFlow(flow: FaultFlow): Promise<void> {
  const got = await runFlow(flow, {});
  verdicts.push(...got);
  const story = renderTable(got);
  expect(got.map((v) => v.point.name), story).toHaveLength(DEFINED[flow]);
  expect(new Set(got.map((v) => v.point.name)).size, 'point names are unique').toBe(got.length);
  for (const v of got) {
    expect(v.point.name.startsWith(`${flow}/`), v.point.name).toBe(true);
    expect(v.fired, `${v.point.name} did not fire\n${story}`).toBe(true);
    expect(v.bricked, `${v.point.name}\n${story}`).toEqual([]);
    if (!v.knownFailure) expect(v.lost, `${v.point.name}\n${story}`).toEqual([]);
    // A point with an expected ending (the OTA power cuts) ended as the product promises.
    expect(v.ending, v.point.name).not.toMatch(/\(expected \w+\)/);
  }
}

describe('the fault matrix', () => {
  it(`provisioning: ${DEFINED.provisioning} points — power cut at each step and eFuse burn, UART noise, the station killed; the re-run finishes every board`, { timeout: 600_000 }, async () => {
    await expectFlow('provisioning');
  });

  describe.skipIf(!available)(`on a real mosquitto (needs ${MOSQUITTO})`, () => {
    it(`ota: ${DEFINED.ota} points — power cut at every flash stage of an update, download and broker resets, the driver killed; every board back online and updatable again`, { timeout: 600_000 }, async () => {
      await expectFlow('ota');
    });

    it(`renewal: ${DEFINED.renewal} points — power cut and broker reset at each renewal step, renewd down or killed; every board online on a certificate the records agree on, and renews again`, { timeout: 600_000 }, async () => {
      await expectFlow('renewal');
    });

    it('the table: at least 40 points across the three flows, 0 boards bricked, 0 data lost', () => {
      const s = summarize(verdicts);
      const table = renderTable(verdicts);
      expect(s.points, table).toBeGreaterThanOrEqual(40);
      for (const flow of Object.keys(DEFINED) as FaultFlow[]) expect(s.byFlow[flow].points, `${flow}\n${table}`).toBe(DEFINED[flow]);
      expect(s.notFired, table).toBe(0);
      expect(s.bricked, table).toBe(0);
      expect(s.lost, table).toBe(0);
      expect(table).toMatch(new RegExp(`^points tried: ${s.points} \\(provisioning ${DEFINED.provisioning}, ota ${DEFINED.ota}, renewal ${DEFINED.renewal}\\); boards bricked: 0; data lost: 0`, 'm'));
    });
  });

  it('the judge sees a bricked board and a lost record: a board whose bootloader is erased, one whose identity is erased', { timeout: 120_000 }, async () => {
    const got = await runProvisioningFaults({
      only: (p) => p.name === 'provisioning/connect/sync' || p.name === 'provisioning/efuse-burn/BLK1',
      beforeJudge: (chip, point, plan) => {
        const part = point.name.endsWith('sync') ? 'boot' : 'fs';
        const r = plan.find((x) => x.part === part)!;
        chip.flash.eraseCovering(r.address, part === 'boot' ? 0x1000 : r.bytes.length);
      },
    });
    const [erasedBoot, erasedFs] = got;
    expect(erasedBoot?.bricked.join('\n')).toMatch(/^boot: the boot check accepts no firmware: .*bootloader at 0x1000/m);
    expect(erasedFs?.lost.join('\n')).toMatch(/^certificate on the board vs the registry: /m);
    expect(renderTable(got)).toMatch(/^points tried: 2 \(provisioning 2\); boards bricked: 1; data lost: 1$/m);
  });
});
