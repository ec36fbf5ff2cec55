// Creating a rollout (issue 15): the bundle's facts, the targeted boards (the registry's
// records under --select, or a rollback's boards) with what the broker says they run, the
// waves (rollout-waves.ts), and the record written to the registry and audited — refusing,
// before anything is written, a bundle the boards would not take.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readBundle, SIGNATURE_SLOTS } from '../../firmware-js/bundle/index.ts';
import type { AuditLog, DeviceRecord } from '../station/records.ts';
import type { Registry } from '../station/open-registry.ts';
import { FleetError } from './errors.ts';
import { trustKey, type StationTrust } from './station-trust.ts';
import type { BoardFacts } from './fleet-watch.ts';
import { checkCommandSpec, checkRolloutId } from './ota-messages.ts';
import { initialState } from './rollout-plan.ts';
import type { RolloutPolicy } from './rollout-policy.ts';
import { createRollout, loadRollout, type RolloutRecord, type RolloutSpec } from './rollout-store.ts';
import { planWaves, type WavePlan } from './rollout-waves.ts';

export interface BundleFacts {
  path: string;
  version: string;
  sha256: string;
  size: number;
  /** Signature slots present (sig0..): empty = unsigned. */
  signedBy: string[];
}

export function readBundleFacts(path: string): BundleFacts {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new FleetError('fleet.rollout.no_bundle', `cannot read the bundle ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'check --bundle' });
  }
  const bundle = readBundle(bytes);
  const signedBy = Array.from({ length: SIGNATURE_SLOTS }, (_, i) => `sig${i}`).filter((k) => bundle.extra[k] !== undefined);
  return { path, version: bundle.manifest.version, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, signedBy };
}

/** The CN of a client certificate chain's leaf (operator:alice): the actor of the audit entries. */
export function actorOf(chainPem: string): string {
  let subject: string;
  try {
    subject = new X509Certificate(chainPem).subject;
  } catch (e) {
    throw new FleetError('fleet.mqtt.bad_identity', `cannot read the client certificate: ${(e as Error).message}`, { hint: 'check --client-cert' });
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1];
  if (cn === undefined) throw new FleetError('fleet.mqtt.bad_identity', `the client certificate has no CN (subject ${subject.replace(/\n/g, ', ')})`, { hint: 'issue one with `espfleet ca client-cert --role operator`' });
  return cn;
}

export interface CreateRolloutInput {
  registry: Registry;
  audit: AuditLog;
  id: string;
  actor: string;
  bundle: BundleFacts;
  url: string;
  /** The --select text (recorded), and the records it chose. */
  select: string;
  records: readonly DeviceRecord[];
  /** What the broker says about each board (retained status), over the registry's version. */
  facts: ReadonlyMap<string, BoardFacts>;
  policy: RolloutPolicy;
  commitTimeout?: number;
  rollbackOf?: string;
  /** Whether the boards of the station running this take the bundle (station-trust.ts); other boards are not judged. */
  trust?: StationTrust;
  now: Date;
}

export interface Created {
  record: RolloutRecord;
  plan: WavePlan;
}

export async function createRolloutFromFleet(input: CreateRolloutInput): Promise<Created> {
  const { registry, audit, id, bundle } = input;
  checkRolloutId(id);
  checkCommandSpec({ url: input.url, version: bundle.version, ...(input.commitTimeout !== undefined ? { commitTimeout: input.commitTimeout } : {}) });
  if (await loadRollout(registry, id)) {
    throw new FleetError('fleet.rollout.exists', `a rollout ${id} is already recorded in the registry`, { hint: `use \`espfleet ota rollout resume --id ${id}\` to continue it, or pick another --id` });
  }
  const boards = input.records.map((r) => {
    const f = input.facts.get(r.deviceId);
    const version = f?.version ?? r.firmwareVersion ?? undefined;
    return { id: r.deviceId, online: f?.online === true, ...(version !== undefined ? { version } : {}), ...trustedKeys(r, input.trust) };
  });
  const plan = planWaves(boards, { version: bundle.version, signedBy: signedFor(bundle, input.trust) }, input.policy);
  if (plan.refusal !== undefined) {
    throw new FleetError('fleet.rollout.refused', `${bundle.path}: ${plan.refusal}${trustReason(input.trust)}`, { hint: 'sign it with `espfleet fw sign` (keys the boards hold in update.key0..7)' });
  }
  const targeted = plan.waves.reduce((n, w) => n + w.length, 0);
  if (targeted === 0) {
    throw new FleetError('fleet.rollout.no_boards', `no board to update: ${input.records.length} selected, ${plan.excluded.length} left out (${[...new Set(plan.excluded.map((e) => e.reason))].join(', ') || 'none in the registry'})`, {
      hint: 'see who and why with `espfleet ota rollout plan` and the same flags',
    });
  }
  const spec: RolloutSpec = {
    bundle: { path: bundle.path, version: bundle.version, sha256: bundle.sha256, signedBy: bundle.signedBy },
    url: input.url,
    select: input.select,
    policy: input.policy,
    ...(input.commitTimeout !== undefined ? { commitTimeout: input.commitTimeout } : {}),
    ...(input.rollbackOf !== undefined ? { rollbackOf: input.rollbackOf } : {}),
  };
  const createdAt = input.now.toISOString();
  await createRollout(registry, { id, actor: input.actor, createdAt, spec, state: initialState(plan.waves) });
  await audit.append({
    action: 'rollout.start',
    actor: input.actor,
    subject: { rollout: id },
    details: {
      version: bundle.version,
      sha256: bundle.sha256,
      url: input.url,
      select: input.select,
      waves: plan.waves,
      excluded: plan.excluded.map((e) => ({ id: e.id, reason: e.reason })),
      allowDowngrade: input.policy.allowDowngrade,
      ...(input.rollbackOf !== undefined ? { rollbackOf: input.rollbackOf } : {}),
    },
  });
  return { record: (await loadRollout(registry, id))!, plan };
}

/**
 * A board whose key state the registry holds accepts what that state verifies; else one made
 * by the trusting station accepts only what that station's keys sign (station-trust.ts).
 */
export function trustedKeys(r: Pick<DeviceRecord, 'station' | 'deviceId'>, trust: StationTrust | undefined): { acceptedKeys?: string[] } {
  const board = trust?.boards?.get(r.deviceId);
  if (board) return { acceptedKeys: [board.token] };
  return trust !== undefined && trust.station !== '' && r.station === trust.station ? { acceptedKeys: [trustKey(trust.station)] } : {};
}

export function signedFor(bundle: Pick<BundleFacts, 'signedBy'>, trust: StationTrust | undefined): string[] {
  const tokens = [...new Set([...(trust?.boards?.values() ?? [])].filter((b) => b.accepted).map((b) => b.token))];
  return [...bundle.signedBy, ...(trust?.accepted ? [trustKey(trust.station)] : []), ...tokens];
}

/** Why the boards refuse the bundle, for the refusal message: the station's reason, or a board's. */
export function trustReason(trust: StationTrust | undefined): string {
  if (!trust) return '';
  const board = [...(trust.boards?.values() ?? [])].find((b) => !b.accepted);
  if (board) return ` (${board.reason})`;
  return trust.station !== '' && !trust.accepted ? ` (${trust.reason})` : '';
}

/** A rollout id from the time: r-20261202-104500. */
export function defaultRolloutId(now: Date, prefix = 'r'): string {
  return `${prefix}-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}
