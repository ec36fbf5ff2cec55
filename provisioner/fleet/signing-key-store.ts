// Signing-key rotations and each board's key state in the station's registry (tables of
// migration 7), modelled on rollout-store.ts: a command is on record (step, id, seq) before
// it is sent, so a killed driver's `resume` sends the same command again (the board ignores
// a command id it has seen, and a seq it is past) and never a second, different one. Plain
// SQL in this one module.
import type { Registry } from '../station/open-registry.ts';
import type { SqlParam, SqlQueries, SqlRow } from '../station/sql-port.ts';
import { FleetError } from './errors.ts';
import type { BoardKeys, RotationKeys, RotationStep } from './signing-key-plan.ts';

export type RotationStatus = 'running' | 'waiting' | 'done';

export interface RotationSpec {
  keys: RotationKeys;
  /** The --select text, as given; the boards it chose are the rotation's boards. */
  select: string;
}

export interface RotationBoard {
  id: string;
  /** The step of the last command on record for it, its id and seq. */
  step?: RotationStep;
  cmdId?: string;
  seq?: number;
  commandedAt?: string;
}

export interface RotationRecord {
  id: string;
  status: RotationStatus;
  /** The step every targeted board has reached. */
  step: RotationStep;
  spec: RotationSpec;
  actor: string;
  createdAt: string;
  updatedAt: string;
  boards: Record<string, RotationBoard>;
}

export interface RecordedBoardKeys extends BoardKeys {
  reportedAt: string;
}

const rows = (db: SqlQueries, sql: string, params: SqlParam[] = []): Promise<SqlRow[]> => db.query(sql, params);

async function readIn(db: SqlQueries, id: string): Promise<RotationRecord | undefined> {
  const r = (await rows(db, 'SELECT * FROM signing_key_rotations WHERE rotation_id = ?', [id]))[0];
  if (!r) return undefined;
  const boards: Record<string, RotationBoard> = {};
  for (const b of await rows(db, 'SELECT * FROM signing_key_rotation_boards WHERE rotation_id = ? ORDER BY device_id', [id])) {
    const device = String(b.device_id);
    boards[device] = {
      id: device,
      ...(b.step === null ? {} : { step: Number(b.step) as RotationStep }),
      ...(b.cmd_id === null ? {} : { cmdId: String(b.cmd_id) }),
      ...(b.seq === null ? {} : { seq: Number(b.seq) }),
      ...(b.commanded_at === null ? {} : { commandedAt: String(b.commanded_at) }),
    };
  }
  return {
    id,
    status: String(r.status) as RotationStatus,
    step: Number(r.step) as RotationStep,
    spec: JSON.parse(String(r.spec_json)) as RotationSpec,
    actor: String(r.actor),
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
    boards,
  };
}

const notFound = (id: string) => new FleetError('fleet.keys.not_found', `no signing-key rotation ${id} in the registry`, { hint: 'list them with `espfleet ota rotate-signing-key status`' });

export async function createRotation(registry: Registry, rec: Omit<RotationRecord, 'updatedAt'>): Promise<void> {
  await registry.transaction(async (db) => {
    if ((await rows(db, 'SELECT 1 FROM signing_key_rotations WHERE rotation_id = ?', [rec.id])).length > 0) {
      throw new FleetError('fleet.keys.exists', `a signing-key rotation ${rec.id} is already recorded`, { hint: `continue it with \`espfleet ota rotate-signing-key resume --id ${rec.id}\`` });
    }
    // One rotation at a time: two would each sign with keys the other is retiring.
    const open = (await rows(db, "SELECT rotation_id FROM signing_key_rotations WHERE status <> 'done'"))[0];
    if (open) {
      throw new FleetError('fleet.keys.busy', `signing-key rotation ${String(open.rotation_id)} is not done yet`, { hint: `finish it first: \`espfleet ota rotate-signing-key resume --id ${String(open.rotation_id)}\`` });
    }
    await db.run('INSERT INTO signing_key_rotations (rotation_id, status, step, spec_json, actor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      rec.id,
      rec.status,
      rec.step,
      JSON.stringify(rec.spec),
      rec.actor,
      rec.createdAt,
      rec.createdAt,
    ]);
    for (const b of Object.values(rec.boards)) await db.run('INSERT INTO signing_key_rotation_boards (rotation_id, device_id) VALUES (?, ?)', [rec.id, b.id]);
  });
}

export function loadRotation(registry: Registry, id: string): Promise<RotationRecord | undefined> {
  return readIn(registry, id);
}

export async function listRotations(registry: Registry): Promise<RotationRecord[]> {
  const ids = await rows(registry, 'SELECT rotation_id FROM signing_key_rotations ORDER BY created_at, rotation_id');
  return Promise.all(ids.map(async (r) => (await readIn(registry, String(r.rotation_id)))!));
}

/** The rotation's step and status. */
export async function saveRotationStep(registry: Registry, id: string, step: RotationStep, status: RotationStatus, at: Date): Promise<void> {
  await registry.transaction(async (db) => {
    if (!(await readIn(db, id))) throw notFound(id);
    await db.run('UPDATE signing_key_rotations SET step = ?, status = ?, updated_at = ? WHERE rotation_id = ?', [step, status, at.toISOString(), id]);
  });
}

/** Write-ahead: the commands about to be sent, on record first. */
export async function recordCommands(registry: Registry, id: string, commands: ReadonlyArray<{ deviceId: string; step: RotationStep; cmdId: string; seq: number }>, at: Date): Promise<void> {
  if (commands.length === 0) return;
  await registry.transaction(async (db) => {
    if (!(await readIn(db, id))) throw notFound(id);
    for (const c of commands) {
      await db.run('UPDATE signing_key_rotation_boards SET step = ?, cmd_id = ?, seq = ?, commanded_at = ? WHERE rotation_id = ? AND device_id = ?', [c.step, c.cmdId, c.seq, at.toISOString(), id, c.deviceId]);
    }
  });
}

/** Each board's key state as its status last reported it. */
export async function recordBoardKeys(registry: Registry, reports: ReadonlyArray<{ deviceId: string; keys: BoardKeys }>, at: Date): Promise<void> {
  if (reports.length === 0) return;
  await registry.transaction(async (db) => {
    for (const r of reports) {
      await db.run(
        `INSERT INTO board_signing_keys (device_id, seq, mask, fingerprints_json, reported_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, mask = excluded.mask, fingerprints_json = excluded.fingerprints_json, reported_at = excluded.reported_at`,
        [r.deviceId, r.keys.seq, r.keys.mask, JSON.stringify(r.keys.fp), at.toISOString()],
      );
    }
  });
}

export async function loadBoardKeys(registry: Registry): Promise<Map<string, RecordedBoardKeys>> {
  return new Map(
    (await rows(registry, 'SELECT * FROM board_signing_keys ORDER BY device_id')).map((r) => [
      String(r.device_id),
      { seq: Number(r.seq), mask: Number(r.mask), fp: JSON.parse(String(r.fingerprints_json)) as string[], reportedAt: String(r.reported_at) },
    ]),
  );
}
