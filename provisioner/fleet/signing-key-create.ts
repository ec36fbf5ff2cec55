// Planning and creating a signing-key rotation (issue 21): the selected boards with the key
// state their retained status reports (else their last report in the registry), refusing —
// before anything is written — a rotation some board could not start (the new slot taken,
// another key in the old slot, another mask). Boards that never reported are taken in and
// listed: the rotation waits for them at its first step.
import type { MqttClient } from 'mqtt';
import type { AuditLog, DeviceRecord } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { FleetError } from './errors.ts';
import { mqttBus } from './fleet-watch.ts';
import { splitDeviceTopic } from './ota-messages.ts';
import { parseBoardKeys, ROTATION_STEPS, startRefusal, stepOf, type BoardKeys, type RotationKeys, type RotationStep } from './signing-key-plan.ts';
import { createRotation, loadBoardKeys, loadRotation, recordBoardKeys, type RotationRecord } from './signing-key-store.ts';

export interface BoardKeyFacts {
  online: boolean;
  keys?: BoardKeys;
}

/** The retained status of every board: online, and the key state when the agent reports one. */
export async function retainedKeyFacts(client: MqttClient): Promise<Map<string, BoardKeyFacts>> {
  const out = new Map<string, BoardKeyFacts>();
  const bus = mqttBus(client);
  await bus.subscribe(['devices/+/status'], (topic, payload) => {
    const parts = splitDeviceTopic(topic);
    if (!parts || parts[1] !== 'status') return;
    try {
      const m = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
      const keys = parseBoardKeys(m.keys);
      out.set(parts[0], { online: m.online !== false, ...(keys ? { keys } : {}) });
    } catch {
      /* not JSON: no facts */
    }
  });
  await bus.flush?.();
  return out;
}

export interface PlannedBoard {
  id: string;
  online: boolean;
  step?: RotationStep;
  /** Why this board cannot take part, when its keys are known and none of the rotation's steps. */
  refusal?: string;
}

export function planRotation(keys: RotationKeys, records: readonly DeviceRecord[], facts: ReadonlyMap<string, BoardKeyFacts>, recorded: ReadonlyMap<string, BoardKeys>): PlannedBoard[] {
  return [...records]
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0))
    .map((r) => {
      const f = facts.get(r.deviceId);
      const known = f?.keys ?? recorded.get(r.deviceId);
      const base = { id: r.deviceId, online: f?.online === true };
      if (!known) return base;
      const step = stepOf(keys, known);
      const refusal = startRefusal(keys, known);
      return { ...base, ...(step !== undefined ? { step } : {}), ...(refusal !== undefined ? { refusal } : {}) };
    });
}

export function planLines(keys: RotationKeys, boards: readonly PlannedBoard[]): string[] {
  const lines = [`old key ${keys.oldFp.slice(0, 16)}… in slot ${keys.oldSlot} → new key ${keys.newFp.slice(0, 16)}… in slot ${keys.newSlot}: ${boards.length} board${boards.length === 1 ? '' : 's'}`];
  for (const b of boards) lines.push(`  ${b.id}  ${b.online ? 'online ' : 'offline'}  ${b.step !== undefined ? ROTATION_STEPS[b.step] : b.refusal ? 'refused' : 'unknown'}${b.refusal ? `: ${b.refusal}` : ''}`);
  return lines;
}

export interface CreateRotationInput {
  registry: Registry;
  audit: AuditLog;
  id: string;
  actor: string;
  keys: RotationKeys;
  select: string;
  records: readonly DeviceRecord[];
  facts: ReadonlyMap<string, BoardKeyFacts>;
  now: Date;
}

export function checkRotationId(id: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,48}$/.test(id)) throw new FleetError('fleet.keys.bad_id', `rotation id ${JSON.stringify(id)}: 1..48 of A-Z a-z 0-9 - _ . :`, { hint: 'it goes into the command ids the boards keep' });
  return id;
}

export async function createRotationFromFleet(input: CreateRotationInput): Promise<{ record: RotationRecord; boards: PlannedBoard[] }> {
  const { registry, keys } = input;
  checkRotationId(input.id);
  if ((await loadRotation(registry, input.id))) throw new FleetError('fleet.keys.exists', `a signing-key rotation ${input.id} is already recorded`, { hint: `continue it with \`espfleet ota rotate-signing-key resume --id ${input.id}\`` });
  const recorded = (await loadBoardKeys(registry));
  const boards = planRotation(keys, input.records, input.facts, recorded);
  if (boards.length === 0) throw new FleetError('fleet.keys.no_boards', 'no board selected', { hint: 'check --select (e.g. status=provisioned)' });
  const refused = boards.filter((b) => b.refusal !== undefined);
  if (refused.length > 0) {
    throw new FleetError('fleet.keys.refused', `${refused.length} selected board(s) cannot take this rotation: ${refused.slice(0, 5).map((b) => `${b.id} (${b.refusal})`).join(', ')}${refused.length > 5 ? ', …' : ''}`, {
      hint: 'see them with `espfleet ota rotate-signing-key plan`; pick another --slot or leave them out with --select',
    });
  }
  const createdAt = input.now.toISOString();
  await recordBoardKeys(registry, [...input.facts].filter(([id, f]) => f.keys && boards.some((b) => b.id === id)).map(([deviceId, f]) => ({ deviceId, keys: f.keys! })), input.now);
  await createRotation(registry, { id: input.id, status: 'running', step: 0, spec: { keys, select: input.select }, actor: input.actor, createdAt, boards: Object.fromEntries(boards.map((b) => [b.id, { id: b.id }])) });
  await input.audit.append({
    action: 'rollout',
    actor: input.actor,
    subject: { rotation: input.id },
    details: { kind: 'signing-key', step: 'start', oldSlot: keys.oldSlot, oldKey: keys.oldFp, newSlot: keys.newSlot, newKey: keys.newFp, select: input.select, boards: boards.map((b) => b.id) },
  });
  return { record: (await loadRotation(registry, input.id))!, boards };
}

/** `status` lines: the rotation, then each board with the step it is at (the ones behind first). */
export function rotationLines(rec: RotationRecord, boardKeys: ReadonlyMap<string, BoardKeys>): string[] {
  const k = rec.spec.keys;
  const steps = Object.keys(rec.boards).map((id) => {
    const keys = boardKeys.get(id);
    return { id, step: keys ? stepOf(k, keys) : undefined };
  });
  const behind = steps.filter((b) => b.step === undefined || b.step < 3);
  const lines = [
    `rotation ${rec.id}: ${rec.status}, every board at ${ROTATION_STEPS[rec.step]} (step ${rec.step} of 3); slot ${k.oldSlot} ${k.oldFp.slice(0, 16)}… → slot ${k.newSlot} ${k.newFp.slice(0, 16)}…; ${steps.length} boards, ${behind.length} not retired yet`,
  ];
  for (const b of [...behind, ...steps.filter((s) => !behind.includes(s))]) lines.push(`  ${b.id}  ${b.step !== undefined ? ROTATION_STEPS[b.step] : 'unknown'}`);
  return lines;
}
