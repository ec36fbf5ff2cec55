// The fleet side of the OTA-over-MQTT contract (docs/ota-protocol.md): the `cmd/ota`
// command the driver publishes, and the boards' `ota/status`, `events` (cmd_result) and
// `status` messages read back into the planner's terms. Pure: bytes and values in and out.
import { FleetError } from './errors.ts';
import type { BoardReport } from './rollout-plan.ts';
import type { RolloutSpec } from './rollout-store.ts';

/** §1: ids and rollout ids are 1..64 of `A-Za-z0-9-_.:`. */
const TOKEN = /^[A-Za-z0-9_.:-]{1,64}$/;
const VERSION = /^[A-Za-z0-9.+-]{1,32}$/;

/** The command id of a rollout's one command per board (§1). */
export const commandId = (rollout: string): string => `ota-${rollout}`;

/** A rollout id the agent takes: the token rule, short enough that `ota-<id>` is one too. */
export function checkRolloutId(id: string): string {
  if (!TOKEN.test(commandId(id)) || !TOKEN.test(id)) {
    throw new FleetError('fleet.rollout.bad_id', `rollout id ${JSON.stringify(id)}: 1..60 characters of A-Z a-z 0-9 - _ . :`, { hint: 'e.g. --id r-2026-12-02 (boards refuse other ids: docs/ota-protocol.md §1)' });
  }
  return id;
}

/** What the agent would refuse in any command of this rollout, said before anything is sent. */
export function checkCommandSpec(spec: Pick<RolloutSpec, 'url' | 'commitTimeout'> & { version: string }): void {
  let u: URL | undefined;
  try {
    u = new URL(spec.url);
  } catch {
    u = undefined;
  }
  if (u === undefined || u.protocol !== 'https:' || Buffer.byteLength(spec.url) > 256) {
    throw new FleetError('fleet.rollout.bad_url', `--url ${JSON.stringify(spec.url)}: boards take only an https:// URL of at most 256 bytes`, {
      hint: 'the URL `espfleet ota serve` prints, plus the bundle path; its host must be in espfleet.ota.allowed_hosts on the boards',
    });
  }
  if (!VERSION.test(spec.version)) {
    throw new FleetError('fleet.rollout.bad_version', `the bundle's version ${JSON.stringify(spec.version)} is not 1..32 of A-Z a-z 0-9 . - +; boards refuse it`, { hint: 'rebuild the bundle with a plain version (1.3.0)' });
  }
  if (spec.commitTimeout !== undefined && !(Number.isInteger(spec.commitTimeout) && spec.commitTimeout >= 30 && spec.commitTimeout <= 3600)) {
    throw new FleetError('fleet.rollout.bad_commit_timeout', `--commit-timeout ${spec.commitTimeout}: a whole number of seconds in 30..3600`, { hint: 'it must also exceed espfleet.ota.health_timeout on the boards (120 by default)' });
  }
}

export interface OtaCommand {
  id: string;
  rollout: string;
  url: string;
  version: string;
  sha256?: string;
  commit_timeout?: number;
  allow_downgrade: boolean;
}

/** §1's command for every board of rollout `id`. */
export function otaCommand(id: string, spec: RolloutSpec): OtaCommand {
  return {
    id: commandId(id),
    rollout: id,
    url: spec.url,
    version: spec.bundle.version,
    ...(/^[0-9a-f]{64}$/.test(spec.bundle.sha256) ? { sha256: spec.bundle.sha256 } : {}),
    ...(spec.commitTimeout !== undefined ? { commit_timeout: spec.commitTimeout } : {}),
    allow_downgrade: spec.policy.allowDowngrade,
  };
}

export const OTA_STATES = ['refused', 'downloading', 'applied', 'verifying', 'committed', 'failed', 'reverted'] as const;
export type OtaState = (typeof OTA_STATES)[number];

/** §2's state → the planner's: in progress, or how the update ended. */
export const PLANNER_STATUS: Readonly<Record<OtaState, BoardReport['status']>> = {
  downloading: 'downloading',
  applied: 'downloading',
  verifying: 'downloading',
  committed: 'committed',
  reverted: 'reverted',
  failed: 'failed',
  refused: 'failed',
};

/** A board's word about rollout `rollout`, mapped; `reason`/`running` kept for the operator. */
export interface RolloutReport extends BoardReport {
  state: OtaState | 'cmd_result';
  reason?: string;
  running?: string;
  progress?: number;
}

function parseJson(payload: Uint8Array | string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `devices/<id>/ota/status` (§2): a report when it is tagged with this rollout (and its command id, when given). */
export function reportFromOtaStatus(deviceId: string, payload: Uint8Array | string, rollout: string, at: number): RolloutReport | undefined {
  const m = parseJson(payload);
  if (!m || m.rollout !== rollout) return undefined;
  if (m.cmd !== undefined && m.cmd !== commandId(rollout)) return undefined;
  const state = str(m.state) as OtaState | undefined;
  if (state === undefined || !OTA_STATES.includes(state)) return undefined;
  const reason = str(m.reason);
  const running = str(m.running);
  return {
    id: deviceId,
    status: PLANNER_STATUS[state],
    at,
    state,
    ...(reason !== undefined ? { reason } : {}),
    ...(running !== undefined ? { running } : {}),
    ...(typeof m.progress === 'number' ? { progress: m.progress } : {}),
  };
}

/** `devices/<id>/events`: the cmd_result of this rollout's command; a refusal ends the board's update as failed. */
export function reportFromEvent(deviceId: string, payload: Uint8Array | string, rollout: string, at: number): RolloutReport | undefined {
  const m = parseJson(payload);
  if (!m || m.event !== 'cmd_result' || m.id !== commandId(rollout)) return undefined;
  if (m.cmd !== undefined && m.cmd !== 'ota') return undefined;
  if (m.ok === true) return { id: deviceId, status: 'downloading', at, state: 'cmd_result' };
  const reason = str(m.reason) ?? (m.reason === undefined ? undefined : JSON.stringify(m.reason));
  return { id: deviceId, status: 'failed', at, state: 'cmd_result', reason: `refused: ${reason ?? 'no reason given'}` };
}

export interface DeviceStatusFacts {
  online: boolean;
  version?: string;
}

/** `devices/<id>/status` (retained; the will is `{"online":false}`; an empty retained message clears it). */
export function parseDeviceStatus(payload: Uint8Array | string): DeviceStatusFacts {
  const m = parseJson(payload);
  if (!m) return { online: false };
  const version = str(m.fw_version);
  return { online: m.online !== false, ...(version !== undefined ? { version } : {}) };
}

/** `devices/<id>/<rest>` → [id, rest], or undefined for anything else. */
export function splitDeviceTopic(topic: string): [string, string] | undefined {
  const m = /^devices\/([^/]+)\/(.+)$/.exec(topic);
  return m ? [m[1]!, m[2]!] : undefined;
}
