// Which boards a rollout targets and in which wave (issue 15): computed once when the rollout
// starts and kept in its state, so a board's wave never moves while boards come and go.
// Pure: the registry's facts in, a plan out.
import type { RolloutPolicy, WaveSize } from './rollout-policy.ts';

export interface FleetBoard {
  id: string;
  /** The firmware version the board last reported (fw_version), if known. */
  version?: string;
  online: boolean;
  /** ms since the epoch. */
  lastSeen?: number;
  /** Names/fingerprints of the keys in the board's update.key0..7, when the registry knows them. */
  acceptedKeys?: readonly string[];
}

export interface Bundle {
  version: string;
  /** The keys the bundle is signed with (same naming as acceptedKeys); empty = unsigned. */
  signedBy: readonly string[];
}

export type ExclusionReason = 'up-to-date' | 'downgrade' | 'key-not-accepted';

export interface WavePlan {
  /** Board ids per wave, in command order. */
  waves: string[][];
  excluded: { id: string; reason: ExclusionReason; detail: string }[];
  /** Set when the rollout must not start at all (an unsigned bundle). */
  refusal?: string;
}

/** Dotted numeric versions compare by number (1.10 > 1.9); anything else by text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-+]/);
  const pb = b.split(/[.\-+]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** The cumulative board count each wave reaches among `total` boards (empty waves dropped). */
export function waveBoundaries(waves: readonly WaveSize[], total: number): number[] {
  const out: number[] = [];
  for (const w of waves) {
    const upTo = Math.min(total, w.kind === 'count' ? w.n : Math.ceil((w.p * total) / 100 - 1e-9));
    if (upTo > (out.at(-1) ?? 0)) out.push(upTo);
  }
  return out;
}

export function planWaves(boards: readonly FleetBoard[], bundle: Bundle, policy: RolloutPolicy): WavePlan {
  const excluded: WavePlan['excluded'] = [];
  if (bundle.signedBy.length === 0) return { waves: [], excluded, refusal: 'the bundle is not signed; boards with update.sig_req_mask set refuse it' };
  const targets: FleetBoard[] = [];
  for (const b of [...boards].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) {
    if (b.acceptedKeys !== undefined && !b.acceptedKeys.some((k) => bundle.signedBy.includes(k))) {
      excluded.push({ id: b.id, reason: 'key-not-accepted', detail: `accepts ${b.acceptedKeys.join(', ') || 'no key'}; bundle signed by ${bundle.signedBy.join(', ')}` });
      continue;
    }
    if (b.version !== undefined) {
      const c = compareVersions(bundle.version, b.version);
      if (c === 0) {
        excluded.push({ id: b.id, reason: 'up-to-date', detail: `already runs ${b.version}` });
        continue;
      }
      if (c < 0 && !policy.allowDowngrade) {
        excluded.push({ id: b.id, reason: 'downgrade', detail: `runs ${b.version}, newer than ${bundle.version} (allow with --allow-downgrade)` });
        continue;
      }
    }
    targets.push(b);
  }
  const keyRefused = excluded.filter((e) => e.reason === 'key-not-accepted');
  const bounds = waveBoundaries(policy.waves, targets.length);
  const waves = bounds.map((end, i) => targets.slice(bounds[i - 1] ?? 0, end).map((b) => b.id));
  return {
    waves,
    excluded,
    ...(keyRefused.length > 0 ? { refusal: `${keyRefused.length} targeted board(s) would not accept the bundle's signature (${keyRefused.slice(0, 5).map((e) => e.id).join(', ')}${keyRefused.length > 5 ? ', …' : ''})` } : {}),
  };
}
