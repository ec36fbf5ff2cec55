// Which bundles a station's boards will take (issue 15: `rollout start` refuses a bundle the
// targeted boards would refuse). A station writes update.key<i> = its firmware.signing_keys[i]
// into every board's conf9.json, and update.sig_req_mask = every one of them when
// require_signatures is on, else -1 (station/conf9.ts). Judged with the board's own rule
// (firmware-js verifyBundle). A board whose key state the registry holds (issue 21: reported
// in its status, recorded by `ota rotate-signing-key`) is judged by that instead — its keys
// found by fingerprint among the keys espfleet knows (the station's, the rotations'); a slot
// holding a key it does not know verifies nothing. Other boards are not judged.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mgosPublicKeyConfig, verifyBundle } from '../../firmware-js/bundle/index.ts';
import type { StationConfig } from '../station/config.ts';
import type { Registry } from '../station/open-registry.ts';
import { FleetError } from './errors.ts';
import { keyFingerprint } from './signing-key-command.ts';
import type { BoardKeys } from './signing-key-plan.ts';
import { listRotations, loadBoardKeys } from './signing-key-store.ts';

export interface BoardTrust {
  /** The planner's key name for this key state: the bundle carries it only when the state accepts it. */
  token: string;
  accepted: boolean;
  reason: string;
}

export interface StationTrust {
  station: string;
  accepted: boolean;
  reason: string;
  /** Boards judged by their recorded key state, over the station's rule. */
  boards?: ReadonlyMap<string, BoardTrust>;
}

function readKeys(paths: readonly string[]): string[] {
  return paths.map((p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw new FleetError('fleet.rollout.no_key', `cannot read the signing public key ${p} (firmware.signing_keys): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
}

export function stationTrust(config: StationConfig, bundle: Uint8Array): StationTrust | undefined {
  const paths = config.firmware.signingKeys;
  if (paths.length === 0) return undefined;
  const keys = readKeys(paths);
  const mask = config.firmware.requireSignatures ? (1 << keys.length) - 1 : -1;
  const verdict = verifyBundle(bundle, keys, mask);
  return { station: config.station.id, accepted: verdict.accepted, reason: verdict.reason };
}

/** Each recorded board's verdict on the bundle (boards with the same key state share a token). */
export function boardTrust(bundle: Uint8Array, recorded: ReadonlyMap<string, BoardKeys>, knownKeys: readonly string[]): Map<string, BoardTrust> {
  const byFp = new Map(knownKeys.map((b64) => [keyFingerprint(b64), b64]));
  const verdicts = new Map<string, BoardTrust>();
  const out = new Map<string, BoardTrust>();
  for (const [id, k] of recorded) {
    const state = `${k.mask}:${k.fp.join(',')}`;
    let v = verdicts.get(state);
    if (!v) {
      const keys = k.fp.map((fp) => (fp === '' ? undefined : byFp.get(fp)));
      const unknown = k.fp.map((fp, i) => (fp !== '' && !byFp.has(fp) ? i : -1)).filter((i) => i >= 0);
      const verdict = verifyBundle(bundle, keys, k.mask);
      const why = verdict.accepted || unknown.length === 0 ? verdict.reason : `${verdict.reason}; slot ${unknown.join(', ')} holds a key espfleet does not know`;
      v = { token: `keys:${createHash('sha256').update(state).digest('hex').slice(0, 12)}`, accepted: verdict.accepted, reason: why };
      verdicts.set(state, v);
    }
    out.set(id, v);
  }
  return out;
}

/**
 * The trust `ota rollout plan|start|rollback` judge with: the station's rule, and each board
 * whose key state the registry holds by that state. undefined when neither applies.
 */
export async function fleetTrust(config: StationConfig | undefined, registry: Registry | undefined, bundle: Uint8Array): Promise<StationTrust | undefined> {
  const station = config ? stationTrust(config, bundle) : undefined;
  const recorded = registry ? (await loadBoardKeys(registry)) : new Map<string, BoardKeys>();
  if (recorded.size === 0) return station;
  const known = [...(config ? readKeys(config.firmware.signingKeys).map((pem) => mgosPublicKeyConfig(pem)) : []), ...(await listRotations(registry!)).flatMap((r) => [r.spec.keys.oldKey, r.spec.keys.newKey])];
  const boards = boardTrust(bundle, recorded, known);
  return { ...(station ?? { station: '', accepted: false, reason: 'no station config' }), boards };
}

/** The planner's key names: a board of `station` accepts `station:<id>`, which the bundle carries only when trusted. */
export const trustKey = (station: string) => `station:${station}`;
