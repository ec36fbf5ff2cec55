// Rollout state in the station's registry (tables of migration 4), written ahead of what
// it records: a step's new state (boards marked commanded) is committed to the registry
// before any message leaves, so a killed driver's `resume` reloads it and never commands a
// board twice. Each step is audited (rollout.start, rollout.command, rollout.wave, …).
// Works on either registry backend (station/sql-port.ts); every write is one transaction.
import type { Registry } from '../station/open-registry.ts';
import type { AuditAction, AuditLog } from '../station/records.ts';
import type { SqlParam, SqlQueries, SqlRow } from '../station/sql-port.ts';
import { FleetError } from './errors.ts';
import type { RolloutPolicy } from './rollout-policy.ts';
import { applyActions, nextActions, type BoardRollout, type BoardStatus, type RolloutAction, type RolloutState, type RolloutStatus } from './rollout-plan.ts';

export interface RolloutSpec {
  bundle: { path: string; version: string; sha256: string; signedBy: string[] };
  /** The URL boards fetch the bundle from (ota serve). */
  url: string;
  /** The --select filter, as given. */
  select: string;
  policy: RolloutPolicy;
  /** The command's `commit_timeout` (s); absent: the board's default (docs/ota-protocol.md §1). */
  commitTimeout?: number;
  /** Set on a rollback: the rollout whose committed boards this one takes back. */
  rollbackOf?: string;
}

export interface RolloutRecord {
  id: string;
  actor: string;
  createdAt: string;
  updatedAt: string;
  spec: RolloutSpec;
  state: RolloutState;
}

const rows = (db: SqlQueries, sql: string, params: SqlParam[] = []): Promise<SqlRow[]> => db.query(sql, params);

async function readIn(db: SqlQueries, id: string): Promise<RolloutRecord | undefined> {
  const r = (await rows(db, 'SELECT * FROM rollouts WHERE rollout_id = ?', [id]))[0];
  if (!r) return undefined;
  const waves = JSON.parse(String(r.waves_json)) as { started: (number | null)[]; passed: (number | null)[] };
  const boards: Record<string, BoardRollout> = {};
  for (const b of await rows(db, 'SELECT * FROM rollout_boards WHERE rollout_id = ? ORDER BY device_id', [id])) {
    const id = String(b.device_id);
    boards[id] = {
      id,
      wave: Number(b.wave),
      status: String(b.status) as BoardStatus,
      ...(b.commanded_at === null ? {} : { commandedAt: Number(b.commanded_at) }),
      ...(b.updated_at === null ? {} : { updatedAt: Number(b.updated_at) }),
    };
  }
  const undef = (v: number | null) => (v === null ? undefined : v);
  return {
    id,
    actor: String(r.actor),
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
    spec: JSON.parse(String(r.spec_json)) as RolloutSpec,
    state: {
      status: String(r.status) as RolloutStatus,
      wave: Number(r.wave),
      waveCount: Number(r.wave_count),
      waveStartedAt: waves.started.map(undef),
      wavePassedAt: waves.passed.map(undef),
      boards,
      ...(r.abort_reason === null ? {} : { abortReason: String(r.abort_reason) }),
    },
  };
}

async function writeState(db: SqlQueries, id: string, state: RolloutState, at: string): Promise<void> {
  const waves = { started: state.waveStartedAt.map((v) => v ?? null), passed: state.wavePassedAt.map((v) => v ?? null) };
  await db.run('UPDATE rollouts SET status = ?, wave = ?, wave_count = ?, waves_json = ?, abort_reason = ?, updated_at = ? WHERE rollout_id = ?', [
    state.status,
    state.wave,
    state.waveCount,
    JSON.stringify(waves),
    state.abortReason ?? null,
    at,
    id,
  ]);
  const stored = new Map((await rows(db, 'SELECT device_id, commanded_at FROM rollout_boards WHERE rollout_id = ?', [id])).map((r) => [String(r.device_id), r.commanded_at]));
  for (const b of Object.values(state.boards)) {
    const before = stored.get(b.id);
    // The one rule the store keeps itself: a board's command time, once written, never changes.
    if (before !== undefined && before !== null && Number(before) !== b.commandedAt) {
      throw new FleetError('fleet.rollout.commanded_twice', `rollout ${id}: board ${b.id} was already commanded at ${new Date(Number(before)).toISOString()}`, {
        hint: 'a rollout commands each board once; this is a bug in the driver, nothing was written',
      });
    }
    await db.run(
      `INSERT INTO rollout_boards (rollout_id, device_id, wave, status, commanded_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (rollout_id, device_id) DO UPDATE SET status = excluded.status, commanded_at = excluded.commanded_at, updated_at = excluded.updated_at`,
      [id, b.id, b.wave, b.status, b.commandedAt ?? null, b.updatedAt ?? null],
    );
  }
}

/**
 * Records a new rollout. Refuses (writing nothing) an id already recorded, and boards an
 * active (running or paused) rollout already targets — checked and written in one
 * transaction, so two operators starting rollouts on the same boards at once cannot both
 * win. A rollback may target the boards of the rollout it takes back. Recording the very
 * same rollout again (a retried transaction) changes nothing and succeeds.
 */
export async function createRollout(registry: Registry, rec: Omit<RolloutRecord, 'updatedAt'>): Promise<void> {
  await registry.transaction(async (db) => {
    const there = (await rows(db, 'SELECT spec_json, actor, created_at FROM rollouts WHERE rollout_id = ?', [rec.id]))[0];
    if (there !== undefined) {
      // The same request again: on PostgreSQL a transaction whose commit reply was lost is
      // run again, and finds its own row. Same id, spec, actor and creation time is that.
      if (String(there.spec_json) === JSON.stringify(rec.spec) && String(there.actor) === rec.actor && String(there.created_at) === rec.createdAt) return;
      throw new FleetError('fleet.rollout.exists', `a rollout ${rec.id} is already recorded in the registry`, { hint: 'use `espfleet ota rollout resume` to continue it, or pick another --id' });
    }
    const ids = Object.keys(rec.state.boards);
    const busy = ids.length === 0 ? [] : (await rows(
      db,
      `SELECT b.rollout_id, b.device_id FROM rollout_boards b JOIN rollouts r ON r.rollout_id = b.rollout_id
       WHERE r.status IN ('running', 'paused') AND b.device_id IN (${ids.map(() => '?').join(', ')}) ORDER BY b.rollout_id, b.device_id`,
      ids,
    )).filter((r) => String(r.rollout_id) !== rec.spec.rollbackOf);
    if (busy.length > 0) {
      const others = [...new Set(busy.map((r) => String(r.rollout_id)))];
      const boards = busy.map((r) => String(r.device_id));
      throw new FleetError(
        'fleet.rollout.overlap',
        `${boards.length} of the boards (${boards.slice(0, 8).join(' ')}${boards.length > 8 ? ' …' : ''}) are in active rollout ${others.join(', ')}; rollout ${rec.id} was not recorded`,
        { hint: `one rollout per board at a time: wait until ${others[0]} is done, abort it (\`espfleet ota rollout abort --id ${others[0]}\`), or --select other boards` },
      );
    }
    await db.run("INSERT INTO rollouts (rollout_id, status, wave, wave_count, spec_json, waves_json, actor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '{\"started\":[],\"passed\":[]}', ?, ?, ?)", [
      rec.id,
      rec.state.status,
      rec.state.wave,
      rec.state.waveCount,
      JSON.stringify(rec.spec),
      rec.actor,
      rec.createdAt,
      rec.createdAt,
    ]);
    await writeState(db, rec.id, rec.state, rec.createdAt);
  });
}

export function loadRollout(registry: Registry, id: string): Promise<RolloutRecord | undefined> {
  return readIn(registry, id);
}

export async function listRollouts(registry: Registry): Promise<RolloutRecord[]> {
  const out: RolloutRecord[] = [];
  for (const r of await rows(registry, 'SELECT rollout_id FROM rollouts ORDER BY created_at, rollout_id')) {
    const rec = await readIn(registry, String(r.rollout_id));
    if (rec) out.push(rec);
  }
  return out;
}

/** Writes a step's resulting state; refuses (writing nothing) if it would re-command a board. */
export async function saveRolloutState(registry: Registry, id: string, state: RolloutState, at: Date): Promise<void> {
  await registry.transaction(async (db) => {
    if ((await rows(db, 'SELECT 1 FROM rollouts WHERE rollout_id = ?', [id])).length === 0) throw new FleetError('fleet.rollout.not_found', `no rollout ${id} in the registry`);
    await writeState(db, id, state, at.toISOString());
  });
}

const ACTION_AUDIT: Partial<Record<RolloutAction['type'], AuditAction>> = {
  command: 'rollout.command',
  'start-wave': 'rollout.wave',
  'wave-passed': 'rollout.wave',
  'time-out': 'rollout.command',
  pause: 'rollout.pause',
  abort: 'rollout.abort',
  done: 'rollout.done',
};

/** One audit entry per planner action (which boards, which wave, why). */
export async function auditActions(audit: AuditLog, id: string, actor: string, actions: readonly RolloutAction[]): Promise<void> {
  for (const a of actions) {
    const action = ACTION_AUDIT[a.type];
    if (action === undefined) continue;
    const { type, ...rest } = a;
    await audit.append({ action, actor, subject: { rollout: id }, details: { step: type, ...rest } });
  }
}

/**
 * One driver step, write-ahead: plan from the registry's state, save the new state (boards
 * marked commanded), audit, and only then return the actions for the caller to carry out
 * (publish the commands). Killed anywhere, the next step from the registry is what an
 * uninterrupted driver would have done; a board is never commanded twice (at worst a
 * board recorded as commanded missed its message and times out).
 */
export async function stepRollout(
  registry: Registry,
  audit: AuditLog,
  id: string,
  fleet: ReadonlyMap<string, { online: boolean }>,
  now: Date,
  actor: string,
): Promise<{ actions: RolloutAction[]; state: RolloutState; wakeAt?: number }> {
  const rec = await loadRollout(registry, id);
  if (!rec) throw new FleetError('fleet.rollout.not_found', `no rollout ${id} in the registry`, { hint: 'list them with `espfleet ota rollout status`' });
  const quick = nextActions(rec.state, fleet, rec.spec.policy, now.getTime());
  // Most steps (a poll, a report that changed nothing) plan nothing: no lock, no write.
  if (quick.actions.length === 0) return { actions: [], state: rec.state, ...(quick.wakeAt !== undefined ? { wakeAt: quick.wakeAt } : {}) };
  let actions: RolloutAction[] = [];
  let wakeAt: number | undefined;
  // Planned and written under the registry's lock, so an operator's pause or abort from
  // another process between our read and our write is never overwritten.
  const { after } = await updateRollout(registry, id, now, (rec) => {
    const plan = nextActions(rec.state, fleet, rec.spec.policy, now.getTime());
    actions = plan.actions;
    wakeAt = plan.wakeAt;
    return plan.actions.length === 0 ? undefined : applyActions(rec.state, plan.actions, now.getTime());
  });
  if (actions.length > 0) await auditActions(audit, id, actor, actions);
  return { actions, state: after.state, ...(wakeAt !== undefined ? { wakeAt } : {}) };
}

/**
 * Read-modify-write of one rollout under the registry's file lock: `change` sees the
 * state as it is on disk now and returns the new state (undefined: nothing to write).
 */
export async function updateRollout(
  registry: Registry,
  id: string,
  at: Date,
  change: (rec: RolloutRecord) => RolloutState | undefined,
): Promise<{ before: RolloutRecord; after: RolloutRecord; changed: boolean }> {
  let result: { before: RolloutRecord; after: RolloutRecord; changed: boolean } | undefined;
  const notFound = () => new FleetError('fleet.rollout.not_found', `no rollout ${id} in the registry ${registry.path}`, { hint: 'list them with `espfleet ota rollout status`' });
  await registry.transaction(async (db) => {
    const rec = await readIn(db, id);
    if (!rec) throw notFound();
    const next = change(rec);
    if (next === undefined) {
      result = { before: rec, after: rec, changed: false };
      return;
    }
    await writeState(db, id, next, at.toISOString());
    result = { before: rec, after: { ...rec, state: next, updatedAt: at.toISOString() }, changed: true };
  });
  return result!;
}
