// One scenario suite, two backends (STYLE.md lesson 3): a real board on the port named
// by ESPFLEET_HIL_PORT when one is attached, and always the virtual ESP32. The
// scenarios only use what a real board offers: a port URL.
import { describe, expect, it } from 'vitest';
import { readBundle } from '../../firmware-js/bundle/index.ts';
import { planFlash } from '../../firmware-js/flash-plan.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { md5Hex, withBoard } from '../../provisioner/session/index.ts';
import { VirtualEsp32, registerSimBoard } from '../index.ts';

const HIL_PORT = process.env.ESPFLEET_HIL_PORT;

function boardScenarios(portUrl: () => string): void {
  it('identifies an ESP32 with a valid factory MAC and a flash size', async () => {
    const facts = await withBoard(portUrl(), { reset: 'classic' }, (s) => s.chipFacts());
    expect(facts.chip).toBe('ESP32');
    expect(facts.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(facts.macCrcOk).toBe(true);
    expect([4, 8, 16].map((m) => m * 1048576)).toContain(facts.flash.sizeBytes);
  });

  it('flashes the demo bundle verified, and a second flash writes no sector', async () => {
    const bundle = readBundle(makeDemoFirmware({ version: '9.9.9' }).bundle);
    const regions = planFlash(bundle).map((r) => ({ address: r.address, bytes: r.bytes, name: r.part }));
    const first = await withBoard(portUrl(), { reset: 'classic' }, (s) => s.writeRegions(regions));
    // writeRegions throws session.verify_failed on a mismatch; the MD5s it reports are the board's.
    expect(first.map((r) => r.md5)).toEqual(regions.map((r) => md5Hex(r.bytes)));
    expect(first.reduce((n, r) => n + r.sectorsWritten, 0)).toBeGreaterThan(0);
    const again = await withBoard(portUrl(), { reset: 'classic' }, (s) => s.writeRegions(regions));
    expect(again.reduce((n, r) => n + r.sectorsWritten, 0)).toBe(0);
  });
}

describe.skipIf(!HIL_PORT)(`real board on ESPFLEET_HIL_PORT (${HIL_PORT ?? 'not set: set ESPFLEET_HIL_PORT=/dev/ttyUSB0 to run on hardware'})`, () => {
  boardScenarios(() => HIL_PORT as string);
});

describe('virtual ESP32 (sim://)', () => {
  const chip = new VirtualEsp32({ name: 'scenario-board' });
  chip.powerOn();
  registerSimBoard('scenario-board', chip);
  boardScenarios(() => 'sim://scenario-board');
});
