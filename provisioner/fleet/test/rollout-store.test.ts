// Rollout state in the registry: migration 4 on old files, a driver killed between steps
// resumes exactly where it was (same commands as an uninterrupted run, none twice), the
// store refuses a second command time, and every step is in the audit log. On both
// registry backends (the SQLite file with its file log, PostgreSQL with the chain in it).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it as itOn } from 'vitest';
import { openStationAudit, stationAuditEntries, verifyStationAudit } from '../../station/audit-sql.ts';
import { openRegistryAt as openRegistry } from '../../station/open-registry.ts';
import { migrations } from '../../station/registry-migrations.ts';
import { registryBackends, type RegistryBackend } from '../../test/registry-backends.ts';
import { applyReport, initialState, type RolloutAction, type RolloutState } from '../rollout-plan.ts';
import { parsePolicy } from '../rollout-policy.ts';
import { createRollout, listRollouts, loadRollout, saveRolloutState, stepRollout, type RolloutSpec } from '../rollout-store.ts';
import { planWaves } from '../rollout-waves.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'espfleet-rollout-store-'));
const boards = Array.from({ length: 10 }, (_, i) => `esp32_${String(i).padStart(2, '0')}`);
const policy = parsePolicy({ waves: '1,50%,100%', rate: '3/min', maxFailures: '2', minSample: 0, deviceTimeout: '10m' });
const spec: RolloutSpec = { bundle: { path: 'fw.zip', version: '1.1.0', sha256: 'ab'.repeat(32), signedBy: ['k1'] }, url: 'https://ota.example/fw.zip', select: 'status=provisioned', policy };
const fleet = new Map(boards.map((id) => [id, { online: id !== 'esp32_07' }]));
const t0 = Date.parse('2026-12-02T10:00:00Z');
const commandsOf = (actions: RolloutAction[]) => actions.flatMap((a) => (a.type === 'command' ? a.ids : []));

/** Reports of boards (everyone commanded commits), fed between steps as a broker would. */
async function report(path: string, id: string, at: number, committed: string[]): Promise<void> {
  const reg = await openRegistry(path);
  const rec = (await loadRollout(reg, id))!;
  let state: RolloutState = rec.state;
  for (const b of committed) state = applyReport(state, { id: b, status: 'committed', at });
  await saveRolloutState(reg, id, state, new Date(at));
  await reg.close();
}

async function newRollout(backend: RegistryBackend): Promise<{ registry: string; audit: string }> {
  const registry = await backend.fresh();
  const audit = join(tmp(), 'audit.jsonl');
  const reg = await openRegistry(registry);
  const plan = planWaves(boards.map((id) => ({ id, online: true })), spec.bundle, policy);
  await createRollout(reg, { id: 'r1', actor: 'operator:alice', createdAt: new Date(t0).toISOString(), spec, state: initialState(plan.waves) });
  const log = await openStationAudit(reg, audit);
  await log.append({ action: 'rollout.start', actor: 'operator:alice', subject: { rollout: 'r1' }, details: { waves: plan.waves } });
  await reg.close();
  return { registry, audit };
}

/**
 * Runs the driver step by step with one registry handle and audit log, as one process would;
 * with `killAfter` that process is dropped after that step (its handles never used again)
 * and a new one opens the files afresh, as `resume` does. Reports arrive through another handle.
 */
async function drive(paths: { registry: string; audit: string }, steps: number, killAfter?: number): Promise<string[]> {
  const sent: string[] = [];
  let reg = await openRegistry(paths.registry);
  let log = await openStationAudit(reg, paths.audit);
  for (let i = 0; i < steps; i++) {
    const now = t0 + i * 30_000;
    const r = await stepRollout(reg, log, 'r1', fleet, new Date(now), 'operator:alice');
    sent.push(...commandsOf(r.actions));
    if (i === killAfter) {
      await reg.close();
      reg = await openRegistry(paths.registry);
      log = await openStationAudit(reg, paths.audit);
    }
    await report(paths.registry, 'r1', now + 1, commandsOf(r.actions));
  }
  await reg.close();
  return sent;
}

describe.each(registryBackends())('rollout store on $name', (backend) => {
  const it = itOn.skipIf(!backend.available);
  it('migration 4 adds the rollout tables to an older registry', async () => {
    const path = await backend.fresh();
    await (await openRegistry(path, { migrations: migrations.slice(0, 3) })).close();
    const reg = await openRegistry(path);
    expect((await reg.appliedMigrations()).map((m) => m.version)).toContain(4);
    expect(await listRollouts(reg)).toEqual([]);
    await reg.close();
  });

  it('round-trips a rollout, and refuses to record a board commanded twice (writing nothing)', async () => {
    const paths = await newRollout(backend);
    const reg = await openRegistry(paths.registry);
    const log = await openStationAudit(reg, paths.audit);
    const first = await stepRollout(reg, log, 'r1', fleet, new Date(t0), 'operator:alice');
    expect(commandsOf(first.actions)).toEqual(['esp32_00']);
    const rec = (await loadRollout(reg, 'r1'))!;
    expect(rec.state).toEqual(first.state);
    expect(rec.spec).toEqual(spec);
    const again = { ...rec.state, boards: { ...rec.state.boards, esp32_00: { ...rec.state.boards['esp32_00']!, commandedAt: t0 + 5 } } };
    await expect(saveRolloutState(reg, 'r1', again, new Date(t0 + 5))).rejects.toMatchObject({ code: 'fleet.rollout.commanded_twice' });
    expect((await loadRollout(reg, 'r1'))!.state).toEqual(first.state);
    await expect(createRollout(reg, { id: 'r1', actor: 'x', createdAt: 'now', spec, state: rec.state })).rejects.toMatchObject({ code: 'fleet.rollout.exists' });
    await reg.close();
  });

  it('recording the same rollout again (a transaction retried after a lost commit reply) succeeds and changes nothing', async () => {
    const paths = await newRollout(backend);
    const reg = await openRegistry(paths.registry);
    const before = (await loadRollout(reg, 'r1'))!;
    const plan = planWaves(boards.map((id) => ({ id, online: true })), spec.bundle, policy);
    const same = { id: 'r1', actor: 'operator:alice', createdAt: new Date(t0).toISOString(), spec, state: initialState(plan.waves) };
    await createRollout(reg, same);
    expect(await loadRollout(reg, 'r1')).toEqual(before);
    expect((await listRollouts(reg)).length).toBe(1);
    await expect(createRollout(reg, { ...same, actor: 'operator:bob' })).rejects.toMatchObject({ code: 'fleet.rollout.exists' });
    await expect(createRollout(reg, { ...same, spec: { ...spec, url: 'https://other.example/fw.zip' } })).rejects.toMatchObject({ code: 'fleet.rollout.exists' });
    await reg.close();
  });

  it('refuses boards an active rollout already targets, also when two operators start at once; an ended rollout frees them', async () => {
    const where = await backend.fresh();
    const reg = await openRegistry(where);
    const other = await openRegistry(where);
    const make = (id: string, ids: string[], rollbackOf?: string) => ({
      id, actor: 'operator:alice', createdAt: new Date(t0).toISOString(), spec: { ...spec, ...(rollbackOf ? { rollbackOf } : {}) }, state: initialState([ids]),
    });
    await createRollout(reg, make('r1', ['esp32_00', 'esp32_01', 'esp32_02']));
    const err = await createRollout(other, make('r2', ['esp32_02', 'esp32_03'])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'fleet.rollout.overlap' });
    expect((err as Error).message).toContain('1 of the boards (esp32_02) are in active rollout r1; rollout r2 was not recorded');
    expect(await loadRollout(reg, 'r2')).toBeUndefined();
    await createRollout(other, make('r3', ['esp32_03', 'esp32_04']));
    // A rollback of r1 may take r1's boards back.
    await createRollout(other, make('r1-rollback', ['esp32_00'], 'r1'));
    // Two operators at once on the same boards: exactly one rollout is recorded.
    const race = await Promise.allSettled([createRollout(reg, make('r5', ['esp32_08', 'esp32_09'])), createRollout(other, make('r6', ['esp32_09']))]);
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(race.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'fleet.rollout.overlap' } });
    // Once r3 has ended, its boards are free again.
    const r3 = (await loadRollout(reg, 'r3'))!;
    await saveRolloutState(reg, 'r3', { ...r3.state, status: 'aborted', abortReason: 'test' }, new Date(t0 + 1));
    await createRollout(reg, make('r7', ['esp32_03']));
    await reg.close();
    await other.close();
  });

  it('a driver killed after any step resumes exactly where it was: the same commands, none twice', async () => {
    const whole = await drive(await newRollout(backend), 12);
    expect(whole.slice(0, 1)).toEqual(['esp32_00']);
    expect(new Set(whole).size).toBe(whole.length);
    expect([...whole].sort()).toEqual(boards.filter((b) => b !== 'esp32_07'));
    for (const killAfter of [0, 1, 3, 5]) {
      const resumed = await drive(await newRollout(backend), 12, killAfter);
      expect(resumed, `killed after step ${killAfter}`).toEqual(whole);
    }
  });

  it('every step is audited: who, what, which boards; the chain verifies against the registry', async () => {
    const paths = await newRollout(backend);
    await drive(paths, 30);
    const reg = await openRegistry(paths.registry, { readOnly: true });
    const final = (await loadRollout(reg, 'r1'))!;
    expect(final.state.status).toBe('done');
    expect(final.state.boards['esp32_07']).toMatchObject({ status: 'timed-out' });
    expect(await reg.auditAnchor()).toBeDefined();
    expect(await verifyStationAudit(reg, paths.audit)).toMatchObject({ ok: true });
    const entries = (await stationAuditEntries(reg, paths.audit)) as unknown as Array<{ action: string; actor: string; details: { step: string; ids?: string[] } }>;
    await reg.close();
    expect(entries[0]!.action).toBe('rollout.start');
    const commanded = entries.filter((e) => e.details.step === 'command').flatMap((e) => e.details.ids!);
    expect(commanded.sort()).toEqual(boards.filter((b) => b !== 'esp32_07'));
    expect(entries.filter((e) => e.details.step === 'time-out').flatMap((e) => e.details.ids!)).toEqual(['esp32_07']);
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['rollout.wave', 'rollout.done']));
    expect(new Set(entries.map((e) => e.actor))).toEqual(new Set(['operator:alice']));
  });
});
