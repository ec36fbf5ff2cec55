// Drives a signing-key rotation over MQTT (issue 21): for each step, the cmd/keys of every
// online board still one step behind — on record in the registry first, then published —
// and the step is passed only when the key state every targeted board reports (retained
// status, else its last report in the registry) is at that step. Boards that are offline,
// refused, did not answer or hold unexpected keys stop the rotation at that step ("waiting"):
// they are listed, and every key a board at any earlier step trusts is still in use (bundles
// keep both signatures until the rotation is done), so none is left unable to update.
import { randomBytes, type KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { AuditLog } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { FleetError } from './errors.ts';
import { mqttBus } from './fleet-watch.ts';
import { splitDeviceTopic } from './ota-messages.ts';
import { signKeysCommand, type KeysSigner } from './signing-key-command.ts';
import { changeFor, LAST_STEP, parseBoardKeys, ROTATION_STEPS, signersFor, stepOf, type BoardKeys, type RotationStep } from './signing-key-plan.ts';
import { loadBoardKeys, loadRotation, recordBoardKeys, recordCommands, saveRotationStep, type RotationRecord } from './signing-key-store.ts';

export interface BehindBoard {
  id: string;
  /** Its step by its last report; undefined when it never reported or holds other keys. */
  step?: RotationStep;
  online: boolean;
  why: 'offline' | 'refused' | 'no-answer' | 'unexpected-keys' | 'never-reported';
  reason?: string;
}

export type RotationEvent =
  | { type: 'commanded'; step: RotationStep; ids: string[] }
  | { type: 'applied'; id: string; step: RotationStep }
  | { type: 'refused'; id: string; reason: string }
  | { type: 'step-passed'; step: RotationStep };

export interface DriveRotationInput {
  registry: Registry;
  audit: AuditLog;
  client: MqttClient;
  id: string;
  actor: string;
  /** The private keys in their slots' roles; a step whose signer is missing is not started. */
  signers: { old?: KeyObject; new?: KeyObject };
  /** The last step to take (default: retired). */
  until?: RotationStep;
  /** How long a commanded online board has to report the new step (ms). */
  deviceTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (e: RotationEvent) => void;
  now?: () => Date;
}

export interface DriveRotationResult {
  record: RotationRecord;
  ended: 'done' | 'reached' | 'waiting' | 'stopped';
  behind: BehindBoard[];
}

interface Seen {
  online: boolean;
  keys?: BoardKeys;
}

export async function driveRotation(input: DriveRotationInput): Promise<DriveRotationResult> {
  const { registry, audit, id, actor } = input;
  const now = input.now ?? (() => new Date());
  const until = input.until ?? LAST_STEP;
  const timeoutMs = input.deviceTimeoutMs ?? 60_000;
  let rec = (await loadRotation(registry, id));
  if (!rec) throw new FleetError('fleet.keys.not_found', `no signing-key rotation ${id} in the registry`, { hint: 'list them with `espfleet ota rotate-signing-key status`' });
  const k = rec.spec.keys;
  const targeted = Object.keys(rec.boards);
  const mine = new Set(targeted);

  // Every board's key state: the registry's last record, then whatever the broker says now.
  const seen = new Map<string, Seen>([...(await loadBoardKeys(registry))].filter(([d]) => mine.has(d)).map(([d, keys]) => [d, { online: false, keys }]));
  const reports = new Map<string, BoardKeys>();
  const refused = new Map<string, string>();
  const sent = new Map<string, { cmdId: string; step: RotationStep; at: number }>();
  let wake: (() => void) | undefined;
  const bus = mqttBus(input.client);
  await bus.subscribe(['devices/+/status', 'devices/+/events'], (topic, payload) => {
    const parts = splitDeviceTopic(topic);
    if (!parts || !mine.has(parts[0])) return;
    const [device, rest] = parts;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    if (rest === 'status') {
      const keys = parseBoardKeys(m.keys);
      const was = seen.get(device);
      seen.set(device, { online: m.online !== false, ...(keys ?? was?.keys ? { keys: (keys ?? was?.keys)! } : {}) });
      if (keys) reports.set(device, keys);
    } else if (rest === 'events' && m.event === 'cmd_result' && m.cmd === 'keys' && m.id === sent.get(device)?.cmdId && m.ok === false) {
      refused.set(device, typeof m.reason === 'string' ? m.reason : 'refused');
      input.onEvent?.({ type: 'refused', id: device, reason: refused.get(device)! });
    } else return;
    wake?.();
  });
  await bus.flush?.();

  const stepNow = (d: string): RotationStep | undefined => {
    const keys = seen.get(d)?.keys;
    return keys ? stepOf(k, keys) : undefined;
  };
  const saveReports = async () => {
    if (reports.size === 0) return;
    const batch = [...reports].map(([deviceId, keys]) => ({ deviceId, keys }));
    reports.clear();
    await recordBoardKeys(registry, batch, now());
    for (const r of batch) {
      const s = stepOf(k, r.keys);
      if (s !== undefined && sent.get(r.deviceId)?.step === s) input.onEvent?.({ type: 'applied', id: r.deviceId, step: s });
    }
  };
  const behindOf = (to: RotationStep): BehindBoard[] =>
    targeted
      .filter((d) => (stepNow(d) ?? -1) < to)
      .map((d) => {
        const s = seen.get(d);
        const step = stepNow(d);
        const online = s?.online === true;
        const base = { id: d, online, ...(step !== undefined ? { step } : {}) };
        if (refused.has(d)) return { ...base, why: 'refused' as const, reason: refused.get(d)! };
        if (!s?.keys) return { ...base, why: online ? ('never-reported' as const) : ('offline' as const) };
        if (step === undefined) return { ...base, why: 'unexpected-keys' as const };
        if (!online) return { ...base, why: 'offline' as const };
        return { ...base, why: 'no-answer' as const };
      });

  const stop = async (ended: 'waiting' | 'stopped', to: RotationStep) => {
    await saveReports();
    const behind = behindOf(to);
    await saveRotationStep(registry, id, rec!.step, 'waiting', now());
    await audit.append({ action: 'rollout', actor, subject: { rotation: id }, details: { kind: 'signing-key', step: ended, at: ROTATION_STEPS[rec!.step], behind: behind.map((b) => ({ id: b.id, why: b.why, ...(b.step !== undefined ? { step: ROTATION_STEPS[b.step] } : {}) })) } });
    return { record: (await loadRotation(registry, id))!, ended, behind };
  };

  for (let to = (rec.step + 1) as RotationStep; to <= until; to = (to + 1) as RotationStep) {
    const signers: KeysSigner[] = signersFor(to).map((role) => {
      const key = input.signers[role];
      if (!key) throw new FleetError('fleet.keys.no_signing_key', `step ${ROTATION_STEPS[to]} needs the ${role} private key: the boards' mask then requires its signature`, { hint: role === 'new' ? 'give --new-key' : 'give --old-key' });
      return { slot: role === 'old' ? k.oldSlot : k.newSlot, key };
    });
    for (;;) {
      if (input.signal?.aborted) return stop('stopped', to);
      await saveReports();
      const behind = targeted.filter((d) => (stepNow(d) ?? -1) < to);
      if (behind.length === 0) break;
      const t = now().getTime();
      const commands: Array<{ deviceId: string; step: RotationStep; cmdId: string; seq: number; payload: string }> = [];
      let waiting = 0;
      for (const d of behind) {
        const s = seen.get(d);
        if (!s?.online || !s.keys || stepNow(d) !== to - 1 || refused.has(d)) continue;
        const last = sent.get(d);
        if (last?.step === to) {
          if (t - last.at < timeoutMs) waiting++;
          continue;
        }
        // A fresh id per run: a board that refused or missed an earlier one takes this one;
        // one that applied an earlier one is already past this seq and refuses it unchanged.
        const cmdId = `${id}.${to}.${randomBytes(3).toString('hex')}`;
        const cmd = signKeysCommand({ id: cmdId, deviceId: d, seq: s.keys.seq + 1, change: changeFor(k, to) }, signers);
        commands.push({ deviceId: d, step: to, cmdId, seq: cmd.seq, payload: JSON.stringify(cmd) });
      }
      if (commands.length > 0) {
        await recordCommands(registry, id, commands, now());
        await audit.append({ action: 'rollout', actor, subject: { rotation: id }, details: { kind: 'signing-key', step: 'command', to: ROTATION_STEPS[to], boards: commands.map((c) => ({ id: c.deviceId, cmd: c.cmdId, seq: c.seq })) } });
        for (const c of commands) {
          sent.set(c.deviceId, { cmdId: c.cmdId, step: to, at: now().getTime() });
          await bus.publish(`devices/${c.deviceId}/cmd/keys`, c.payload);
        }
        input.onEvent?.({ type: 'commanded', step: to, ids: commands.map((c) => c.deviceId) });
        waiting += commands.length;
      }
      if (waiting === 0) return stop('waiting', to);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 500);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
        input.signal?.addEventListener('abort', done, { once: true });
      });
    }
    rec = { ...rec, step: to };
    await saveRotationStep(registry, id, to, to === LAST_STEP ? 'done' : 'running', now());
    await audit.append({ action: 'rollout', actor, subject: { rotation: id }, details: { kind: 'signing-key', step: 'passed', at: ROTATION_STEPS[to], boards: targeted.length } });
    input.onEvent?.({ type: 'step-passed', step: to });
  }
  await saveReports();
  const record = (await loadRotation(registry, id))!;
  return { record, ended: record.step === LAST_STEP ? 'done' : 'reached', behind: [] };
}
