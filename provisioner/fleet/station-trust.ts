// Which bundles a station's boards will take (issue 15: `rollout start` refuses a bundle the
// targeted boards would refuse). A station writes update.key<i> = its firmware.signing_keys[i]
// into every board's conf9.json, and update.sig_req_mask = every one of them when
// require_signatures is on, else -1 (station/conf9.ts). Judged with the board's own rule
// (firmware-js verifyBundle). Boards from another station, or re-keyed since, are not judged.
import { readFileSync } from 'node:fs';
import { verifyBundle } from '../../firmware-js/bundle/index.ts';
import type { StationConfig } from '../station/config.ts';
import { FleetError } from './errors.ts';

export interface StationTrust {
  station: string;
  accepted: boolean;
  reason: string;
}

export function stationTrust(config: StationConfig, bundle: Uint8Array): StationTrust | undefined {
  const paths = config.firmware.signingKeys;
  if (paths.length === 0) return undefined;
  const keys = paths.map((p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw new FleetError('fleet.rollout.no_key', `cannot read the signing public key ${p} (firmware.signing_keys): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  const mask = config.firmware.requireSignatures ? (1 << keys.length) - 1 : -1;
  const verdict = verifyBundle(bundle, keys, mask);
  return { station: config.station.id, accepted: verdict.accepted, reason: verdict.reason };
}

/** The planner's key names: a board of `station` accepts `station:<id>`, which the bundle carries only when trusted. */
export const trustKey = (station: string) => `station:${station}`;
