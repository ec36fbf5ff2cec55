// `espfleet ota rollout plan` and `status` in-process over a real registry file: the waves a
// signed bundle would go out in, who is left out, refusals; the recorded rollouts' state.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, signBundle } from '../../firmware-js/bundle/index.ts';
import { makeDemoFirmware } from '../../firmware-js/testgen/demo-firmware.ts';
import { initialState, applyActions } from '../fleet/rollout-plan.ts';
import { parsePolicy } from '../fleet/rollout-policy.ts';
import { createRollout, saveRolloutState } from '../fleet/rollout-store.ts';
import { openRegistry } from '../station/registry-sqlite.ts';
import { espfleet } from './cli-harness.ts';
import { deviceRecord } from './device-record.ts';

const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-rollout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const registry = join(dir, 'registry.sqlite');
const mac = (i: number) => `24:0a:c4:00:01:${i.toString(16).padStart(2, '0')}`;

beforeAll(async () => {
  const reg = await openRegistry(registry);
  for (let i = 0; i < 12; i++) {
    const version = i === 10 ? '1.1.0' : i === 11 ? '2.0.0' : '1.0.0';
    await reg.upsert(deviceRecord({ deviceId: `esp32_${String(i).padStart(2, '0')}`, mac: mac(i), firmwareVersion: version, station: i < 6 ? 'line1' : 'line2' }));
  }
  await reg.upsert(deviceRecord({ deviceId: 'esp32_failed', mac: mac(99), status: 'failed' }));
  await reg.close();
  const fw = makeDemoFirmware({ version: '1.1.0' });
  writeFileSync(join(dir, 'unsigned.zip'), fw.bundle);
  writeFileSync(join(dir, 'fw.zip'), signBundle(fw.bundle, generateSigningKey().privateKeyPem, 0));
});

describe('espfleet ota rollout plan', () => {
  it('prints the waves of the selected boards and who is left out, as text and JSON', async () => {
    const args = ['ota', 'rollout', 'plan', '--registry', registry, '--bundle', join(dir, 'fw.zip'), '--select', 'status=provisioned', '--waves', '1,50%,100%', '--rate', '5/min'];
    const text = await espfleet(args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('12 boards selected, 10 targeted in 3 waves, 2 left out');
    expect(text.stdout).toMatch(/^WAVE {2}BOARDS {2}UP TO {2}FIRST BOARDS\n1 +1 +1 +esp32_00\n2 +4 +5 +esp32_01 esp32_02 esp32_03 … \(\+1\)\n3 +5 +10 /m);
    expect(text.stdout).toMatch(/^esp32_10 +up-to-date +already runs 1\.1\.0$/m);
    expect(text.stdout).toMatch(/^esp32_11 +downgrade +runs 2\.0\.0, newer than 1\.1\.0/m);
    const json = await espfleet([...args, '--json']);
    const plan = JSON.parse(json.stdout) as { targeted: number; waves: { wave: number; boards: string[] }[]; bundle: { version: string; signatures: string[] }; policy: { rate: unknown } };
    expect(plan.targeted).toBe(10);
    expect(plan.waves.map((w) => w.boards.length)).toEqual([1, 4, 5]);
    expect(plan.bundle).toMatchObject({ version: '1.1.0', signatures: ['sig0'] });
    expect(plan.policy.rate).toEqual({ count: 5, perMs: 60_000 });
    const downgrade = JSON.parse((await espfleet([...args, '--select', 'station=line2', '--allow-downgrade', '--json'])).stdout) as { targeted: number };
    expect(downgrade.targeted).toBe(5);
  });

  it('refuses an unsigned bundle, and names the option of a bad policy or filter', async () => {
    const base = ['ota', 'rollout', 'plan', '--registry', registry, '--select', 'all'];
    const unsigned = await espfleet([...base, '--bundle', join(dir, 'unsigned.zip')]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/the bundle is not signed.*\[fleet\.rollout\.refused\]/);
    const waves = await espfleet([...base, '--bundle', join(dir, 'fw.zip'), '--waves', '1,10%', '--json']);
    expect(waves.code).toBe(1);
    expect(JSON.parse(waves.stdout).error).toMatchObject({ code: 'fleet.policy.bad_value', message: '--waves "1,10%": the last wave must be 100% (every targeted board)' });
    const select = await espfleet([...base, '--bundle', join(dir, 'fw.zip'), '--select', 'colour=red']);
    expect(select.stderr).toMatch(/--select "colour=red": "colour=red" is not one of status=…/);
  });
});

describe('espfleet ota rollout status', () => {
  it('lists recorded rollouts and shows one per wave and board', async () => {
    expect((await espfleet(['ota', 'rollout', 'status', '--registry', registry])).stdout).toBe('no rollouts\n');
    const reg = await openRegistry(registry);
    const policy = parsePolicy({ waves: '1,100%' });
    const state = initialState([['esp32_00'], ['esp32_01', 'esp32_02']]);
    await createRollout(reg, {
      id: 'r1',
      actor: 'operator:alice',
      createdAt: '2026-12-02T10:00:00.000Z',
      spec: { bundle: { path: 'fw.zip', version: '1.1.0', sha256: '00', signedBy: ['sig0'] }, url: 'https://ota:8443/fw.zip', select: 'all', policy },
      state,
    });
    const t = Date.parse('2026-12-02T10:00:00Z');
    await saveRolloutState(reg, 'r1', applyActions(state, [{ type: 'start-wave', wave: 0 }, { type: 'command', ids: ['esp32_00'] }], t), new Date(t));
    await reg.close();
    const list = await espfleet(['ota', 'rollout', 'status', '--registry', registry]);
    expect(list.stdout).toMatch(/^ROLLOUT {2}STATUS {3}WAVE {2}VERSION {2}BOARDS {2}COMMITTED {2}FAILED {2}UPDATED\nr1 +running +1\/2 +1\.1\.0 +3 +0 +0 +2026-12-02T10:00:00\.000Z\n$/);
    const one = await espfleet(['ota', 'rollout', 'status', '--registry', registry, '--id', 'r1']);
    expect(one.stdout).toContain('rollout r1: running, wave 1 of 2, version 1.1.0 from https://ota:8443/fw.zip, 3 boards, 0 failed');
    expect(one.stdout).toMatch(/^esp32_00 +1 +commanded +2026-12-02T10:00:00\.000Z/m);
    const json = JSON.parse((await espfleet(['ota', 'rollout', 'status', '--registry', registry, '--id', 'r1', '--json'])).stdout) as { counts: Record<string, number>; waves: unknown[] };
    expect(json.counts).toMatchObject({ commanded: 1, pending: 2 });
    expect(json.waves).toHaveLength(2);
    const missing = await espfleet(['ota', 'rollout', 'status', '--registry', registry, '--id', 'nope', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error.code).toBe('fleet.rollout.not_found');
  });
});
