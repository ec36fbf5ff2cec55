// The rollout planner: table-driven cases of each rule, then seeded property tests over
// random fleets, policies and event orders (never twice, never over the rate, waves in
// order, always aborts once the threshold is passed).
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../firmware-js/test/seeded-random.ts';
import { parsePolicy, type PolicyText, type RolloutPolicy } from '../rollout-policy.ts';
import { applyActions, applyReport, initialState, nextActions, tally, TERMINAL, thresholdPassed, type RolloutAction, type RolloutState } from '../rollout-plan.ts';
import { compareVersions, planWaves, waveBoundaries, type FleetBoard } from '../rollout-waves.ts';

const ids = (n: number, prefix = 'b') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
const online = (list: string[], offline: string[] = []) => new Map(list.map((id) => [id, { online: !offline.includes(id) }]));
const policy = (t: PolicyText = {}) => parsePolicy({ rate: '1000/min', minSample: 0, deviceTimeout: '10m', ...t });
const commanded = (actions: RolloutAction[]) => actions.flatMap((a) => (a.type === 'command' ? a.ids : []));
const types = (actions: RolloutAction[]) => actions.map((a) => a.type);

/** Plans, applies and returns the state and the actions of one step. */
function step(state: RolloutState, fleet: Map<string, { online: boolean }>, p: RolloutPolicy, now: number) {
  const plan = nextActions(state, fleet, p, now);
  return { state: applyActions(state, plan.actions, now), ...plan };
}

describe('planWaves', () => {
  const boards = (n: number, extra: Partial<FleetBoard> = {}): FleetBoard[] => ids(n).map((id) => ({ id, version: '1.0.0', online: true, ...extra }));
  const bundle = { version: '1.1.0', signedBy: ['fleet-2026'] };

  it.each([
    ['1,10%,50%,100%', 20, [1, 2, 10, 20]],
    ['1,10%,50%,100%', 1, [1]],
    ['1,10%,50%,100%', 5, [1, 3, 5]],
    ['10,100%', 4, [4]],
    ['1,10%,50%,100%', 0, []],
    ['3%,100%', 1000, [30, 1000]],
  ])('waves %s of %i boards end at %j', (waves, n, bounds) => {
    expect(waveBoundaries(parsePolicy({ waves }).waves, n)).toEqual(bounds);
    const plan = planWaves(boards(n), bundle, parsePolicy({ waves }));
    expect(plan.waves.map((w) => w.length)).toEqual(bounds.map((b, i) => b - (bounds[i - 1] ?? 0)));
    expect(plan.waves.flat()).toEqual(ids(n));
  });

  it('leaves out boards already on the version and downgrades (unless allowed); refuses unsigned bundles and keys boards do not hold', () => {
    const fleet: FleetBoard[] = [
      { id: 'a', version: '1.1.0', online: true },
      { id: 'b', version: '1.10.0', online: true },
      { id: 'c', version: '1.0.9', online: false },
      { id: 'd', online: true },
      { id: 'e', version: '1.0.0', online: true, acceptedKeys: ['old-key'] },
    ];
    const plan = planWaves(fleet, bundle, parsePolicy({ waves: '100%' }));
    expect(plan.waves).toEqual([['c', 'd']]);
    expect(plan.excluded.map((e) => [e.id, e.reason])).toEqual([
      ['a', 'up-to-date'],
      ['b', 'downgrade'],
      ['e', 'key-not-accepted'],
    ]);
    expect(plan.refusal).toMatch(/1 targeted board\(s\) would not accept the bundle's signature \(e\)/);
    expect(planWaves(fleet.slice(0, 4), bundle, parsePolicy({ waves: '100%', allowDowngrade: true })).waves).toEqual([['b', 'c', 'd']]);
    expect(planWaves(fleet, { version: '2', signedBy: [] }, parsePolicy()).refusal).toMatch(/not signed/);
    expect(compareVersions('1.10.0', '1.9.9')).toBe(1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
  });
});

describe('nextActions', () => {
  it('commands the first wave, waits for it, then starts the next', () => {
    const list = ids(4);
    const p = policy({ waves: '1,100%' });
    let r = step(initialState([list.slice(0, 1), list.slice(1)]), online(list), p, 0);
    expect(r.actions).toEqual([{ type: 'start-wave', wave: 0 }, { type: 'command', ids: ['b000'] }]);
    r = step(r.state, online(list), p, 1000);
    expect(r.actions).toEqual([]);
    expect(r.wakeAt).toBe(600_000); // b000's timeout
    r = step(applyReport(r.state, { id: 'b000', status: 'committed', at: 2000 }), online(list), p, 2000);
    expect(r.actions).toEqual([{ type: 'wave-passed', wave: 0 }, { type: 'start-wave', wave: 1 }, { type: 'command', ids: ['b001', 'b002', 'b003'] }]);
    for (const id of list.slice(1)) r.state = applyReport(r.state, { id, status: 'committed', at: 3000 });
    r = step(r.state, online(list), p, 3000);
    expect(r.actions).toEqual([{ type: 'wave-passed', wave: 1 }, { type: 'done' }]);
    expect(r.state.status).toBe('done');
    expect(step(r.state, online(list), p, 4000).actions).toEqual([]);
  });

  it('keeps to the rate: a sliding window, and says when the next slot frees', () => {
    const list = ids(7);
    const p = policy({ waves: '100%', rate: '3/min' });
    let r = step(initialState([list]), online(list), p, 0);
    expect(commanded(r.actions)).toEqual(['b000', 'b001', 'b002']);
    expect(r.wakeAt).toBe(60_000);
    r = step(r.state, online(list), p, 59_999);
    expect(commanded(r.actions)).toEqual([]);
    r = step(r.state, online(list), p, 60_000);
    expect(commanded(r.actions)).toEqual(['b003', 'b004', 'b005']);
    r = step(r.state, online(list), p, 120_000);
    expect(commanded(r.actions)).toEqual(['b006']);
  });

  it('offline boards: commanded when they come back, timed out (not failures) when they do not in time', () => {
    const list = ids(3);
    const p = policy({ waves: '100%', maxFailures: '0' });
    let r = step(initialState([list]), online(list, ['b001', 'b002']), p, 0);
    expect(commanded(r.actions)).toEqual(['b000']);
    expect(r.wakeAt).toBe(600_000);
    r = step(r.state, online(list, ['b002']), p, 300_000);
    expect(commanded(r.actions)).toEqual(['b001']);
    r.state = applyReport(applyReport(r.state, { id: 'b000', status: 'committed', at: 1 }), { id: 'b001', status: 'committed', at: 2 });
    r = step(r.state, online(list, ['b002']), p, 600_000);
    expect(r.actions).toEqual([{ type: 'time-out', ids: ['b002'] }, { type: 'wave-passed', wave: 0 }, { type: 'done' }]);
    expect(tally(r.state)).toEqual({ failures: 0, outcomes: 2, targeted: 3 });
    // A board back after its timeout is not commanded in this rollout.
    expect(step(r.state, online(list), p, 700_000).actions).toEqual([]);
  });

  it('a commanded board silent past --device-timeout is a failure', () => {
    const list = ids(2);
    const p = policy({ waves: '100%', maxFailures: '0' });
    let r = step(initialState([list]), online(list), p, 0);
    r.state = applyReport(r.state, { id: 'b000', status: 'downloading', at: 10 });
    r.state = applyReport(r.state, { id: 'b001', status: 'committed', at: 10 });
    r = step(r.state, online(list), p, 600_000);
    expect(r.actions).toEqual([{ type: 'time-out', ids: ['b000'] }, { type: 'abort', reason: '1 of 2 finished boards failed (more than 0; 2 targeted)' }]);
    expect(r.state.status).toBe('aborted');
  });

  it('aborts when the first wave reverts everywhere, and never commands a later wave', () => {
    const list = ids(20);
    const p = policy({ waves: '5,50%,100%', maxFailures: '10%', minSample: 5 });
    let r = step(initialState(planWaves(list.map((id) => ({ id, online: true })), { version: '2', signedBy: ['k'] }, p).waves), online(list), p, 0);
    expect(commanded(r.actions)).toEqual(list.slice(0, 5));
    for (const id of list.slice(0, 4)) r.state = applyReport(r.state, { id, status: 'reverted', at: 5 });
    // 4 failures of 20 targeted already pass 10% of the fleet: no need to wait for the fifth.
    r = step(r.state, online(list), p, 10);
    expect(r.actions).toEqual([{ type: 'abort', reason: '4 of 4 finished boards failed (more than 10%; 20 targeted)' }]);
    expect(step(applyReport(r.state, { id: 'b004', status: 'committed', at: 11 }), online(list), p, 20).actions).toEqual([]);
  });

  it('a percentage waits for the minimum sample; a count does not', () => {
    const base = { failures: 1, outcomes: 3, targeted: 100 };
    expect(thresholdPassed(base, { kind: 'percent', p: 10 }, 20)).toBe(false);
    expect(thresholdPassed({ ...base, outcomes: 20 }, { kind: 'percent', p: 2 }, 20)).toBe(true);
    expect(thresholdPassed({ ...base, outcomes: 20 }, { kind: 'percent', p: 5 }, 20)).toBe(false);
    expect(thresholdPassed({ failures: 11, outcomes: 11, targeted: 100 }, { kind: 'percent', p: 10 }, 20)).toBe(true);
    expect(thresholdPassed({ failures: 2, outcomes: 3, targeted: 3 }, { kind: 'percent', p: 50 }, 20)).toBe(true);
    expect(thresholdPassed(base, { kind: 'count', n: 0 }, 20)).toBe(true);
    expect(thresholdPassed(base, { kind: 'count', n: 1 }, 20)).toBe(false);
  });

  it('pause between waves: a duration waits, manual pauses the rollout until resumed', () => {
    const list = ids(2);
    const timed = policy({ waves: '1,100%', pauseBetween: '5m' });
    let r = step(initialState([['b000'], ['b001']]), online(list), timed, 0);
    r = step(applyReport(r.state, { id: 'b000', status: 'committed', at: 1 }), online(list), timed, 1000);
    expect(r.actions).toEqual([{ type: 'wave-passed', wave: 0 }]);
    expect(r.wakeAt).toBe(301_000);
    expect(step(r.state, online(list), timed, 300_999).actions).toEqual([]);
    expect(step(r.state, online(list), timed, 301_000).actions).toEqual([{ type: 'start-wave', wave: 1 }, { type: 'command', ids: ['b001'] }]);

    const manual = policy({ waves: '1,100%', pauseBetween: 'manual' });
    let m = step(initialState([['b000'], ['b001']]), online(list), manual, 0);
    m = step(applyReport(m.state, { id: 'b000', status: 'committed', at: 1 }), online(list), manual, 1000);
    expect(types(m.actions)).toEqual(['wave-passed', 'pause']);
    expect(m.state.status).toBe('paused');
    expect(step(m.state, online(list), manual, 10_000).actions).toEqual([]);
    expect(step({ ...m.state, status: 'running' }, online(list), manual, 10_000).actions).toEqual([{ type: 'start-wave', wave: 1 }, { type: 'command', ids: ['b001'] }]);
  });

  it('reports: ignored for boards never commanded and after an ending; a timed-out board may still say how it ended', () => {
    const list = ids(2);
    const p = policy({ waves: '100%' });
    const r = step(initialState([list]), online(list, ['b001']), p, 0);
    expect(applyReport(r.state, { id: 'b001', status: 'committed', at: 1 })).toBe(r.state);
    expect(applyReport(r.state, { id: 'nobody', status: 'committed', at: 1 })).toBe(r.state);
    const done = applyReport(r.state, { id: 'b000', status: 'committed', at: 1 });
    expect(applyReport(done, { id: 'b000', status: 'reverted', at: 2 })).toBe(done);
    const late = applyActions(r.state, [{ type: 'time-out', ids: ['b000'] }], 600_000);
    expect(applyReport(late, { id: 'b000', status: 'committed', at: 600_001 }).boards['b000']!.status).toBe('committed');
  });

  it('the same state gives the same actions (a resumed driver continues exactly where it was)', () => {
    const list = ids(30);
    const p = policy({ waves: '1,10%,100%', rate: '4/min' });
    const state = initialState(planWaves(list.map((id) => ({ id, online: true })), { version: '2', signedBy: ['k'] }, p).waves);
    let r = step(state, online(list), p, 0);
    r = step(applyReport(r.state, { id: 'b000', status: 'committed', at: 1 }), online(list), p, 5);
    const copy = JSON.parse(JSON.stringify(r.state)) as RolloutState;
    expect(nextActions(copy, online(list), p, 70_000)).toEqual(nextActions(r.state, online(list), p, 70_000));
  });
});

describe('nextActions: seeded properties', () => {
  const SEEDS = 300;
  it(`over ${SEEDS} random fleets, policies and event orders`, () => {
    const thresholdsPassed = new Set<string>();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const rnd = new SeededRandom(seed);
      const n = rnd.int(1, 60);
      const list = ids(n);
      const wavesText = [['100%'], ['1', '100%'], ['1', '10%', '50%', '100%'], [String(rnd.int(1, 5)), `${rnd.int(20, 60)}%`, '100%']][rnd.int(0, 3)]!.join(',');
      const rate = { count: rnd.int(1, 10), per: [1000, 60_000][rnd.int(0, 1)]! };
      const p = parsePolicy({
        waves: wavesText,
        rate: `${rate.count}/${rate.per === 1000 ? 's' : 'min'}`,
        maxFailures: rnd.int(0, 1) ? `${rnd.int(0, 30)}%` : String(rnd.int(0, 5)),
        minSample: rnd.int(0, 25),
        deviceTimeout: `${rnd.int(1, 20)}s`,
        pauseBetween: rnd.int(0, 3) === 0 ? `${rnd.int(1, 5)}s` : '0',
      });
      const failRate = rnd.int(0, 100);
      const fleet = new Map(list.map((id) => [id, { online: rnd.int(0, 4) > 0 }]));
      const plan = planWaves(list.map((id) => ({ id, online: true })), { version: '2', signedBy: ['k'] }, p);
      let state = initialState(plan.waves);
      const waveOf = new Map(plan.waves.flatMap((w, i) => w.map((id) => [id, i] as const)));
      const commandTimes: number[] = [];
      const seen = new Set<string>();
      let now = 0;
      const ctx = `seed ${seed} (${n} boards, waves ${wavesText}, rate ${rate.count}/${rate.per}ms)`;
      for (let i = 0; i < 2000 && state.status === 'running'; i++) {
        const before = state;
        const planned = nextActions(state, fleet, p, now);
        // Property: once the threshold is passed (after min-sample) the step aborts and commands nothing.
        const after = applyActions(before, planned.actions.filter((a) => a.type === 'time-out'), now);
        if (thresholdPassed(tally(after), p.maxFailures, p.minSample)) {
          thresholdsPassed.add(p.maxFailures.kind);
          expect(types(planned.actions), ctx).toContain('abort');
          expect(commanded(planned.actions), ctx).toEqual([]);
        }
        for (const id of commanded(planned.actions)) {
          // Never twice; only pending boards of the current wave, every earlier wave passed.
          expect(seen.has(id), `${ctx}: ${id} commanded twice`).toBe(false);
          seen.add(id);
          expect(before.boards[id]!.status, ctx).toBe('pending');
          const w = waveOf.get(id)!;
          for (const [other, ow] of waveOf) if (ow < w) expect(TERMINAL.has(after.boards[other]!.status), `${ctx}: ${id} (wave ${w}) before ${other} (wave ${ow}) ended`).toBe(true);
          for (let k = 0; k < w; k++) expect(before.wavePassedAt[k] !== undefined || planned.actions.some((a) => a.type === 'wave-passed' && a.wave === k), ctx).toBe(true);
          commandTimes.push(now);
        }
        state = applyActions(state, planned.actions, now);
        // Random events: reports from commanded boards (some duplicated), boards going on- and offline.
        for (const b of Object.values(state.boards)) {
          if (b.commandedAt === undefined || rnd.int(0, 2) === 0) continue;
          const status = b.status === 'commanded' ? 'downloading' : rnd.int(1, 100) <= failRate ? (rnd.int(0, 1) ? 'reverted' : 'failed') : 'committed';
          if (rnd.int(0, 9) > 0) state = applyReport(state, { id: b.id, status, at: now });
        }
        for (const id of list) if (rnd.int(0, 19) === 0) fleet.set(id, { online: !fleet.get(id)!.online });
        const advance = rnd.int(0, 3) === 0 && planned.wakeAt !== undefined ? Math.max(1, planned.wakeAt - now) : rnd.int(1, 3000);
        now += advance;
      }
      // Property: the rate, in every window.
      for (let a = 0; a < commandTimes.length; a++) {
        const inWindow = commandTimes.filter((t) => t >= commandTimes[a]! && t < commandTimes[a]! + p.rate.perMs).length;
        expect(inWindow, `${ctx}: ${inWindow} commands in ${p.rate.perMs} ms from ${commandTimes[a]}`).toBeLessThanOrEqual(p.rate.count);
      }
      // It ends: done or aborted, never stuck running (events keep arriving, timeouts bound the rest).
      expect(['done', 'aborted'], ctx).toContain(state.status);
      if (state.status === 'done') for (const b of Object.values(state.boards)) expect(TERMINAL.has(b.status), ctx).toBe(true);
    }
    // The mutations reach the abort rule in both forms.
    expect([...thresholdsPassed].sort()).toEqual(['count', 'percent']);
  });
});
